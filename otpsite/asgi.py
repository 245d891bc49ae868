import os

from django.core.asgi import get_asgi_application

from otpsite.checks import refuse_to_serve_without_secrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "otpsite.settings")
refuse_to_serve_without_secrets()
application = get_asgi_application()
