import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

from otpsite.checks import refuse_to_serve_without_secrets

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "otpsite.settings")
refuse_to_serve_without_secrets()
application = get_wsgi_application()

# What the application has loaded (models, admin, URLconf) lives as long as the process: moved out of the
# collector's generations, a full collection no longer walks it, which otherwise stalls a request now and then.
get_resolver().url_patterns  # noqa: B018 - loaded now, not by the first request
gc.collect()
gc.freeze()
