"""The project's URLs plus /bench/floor/<pk>/: the yardstick every endpoint is quoted against."""

from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from otpsite.urls import urlpatterns as project_urlpatterns
from otpusers.models import OtpUser


class FloorView(APIView):
    """A minimal DRF view: no authentication, no permission, one SELECT by primary key, a small JSON body.
    What an endpoint costs beyond this is what otpsite adds."""

    authentication_classes = []
    permission_classes = []

    def get(self, request, pk: int):
        row = OtpUser.objects.filter(pk=pk).values("id", "email", "mobile").get()
        return Response(row)


urlpatterns = [path("bench/floor/<int:pk>/", FloorView.as_view()), *project_urlpatterns]
