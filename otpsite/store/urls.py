from django.urls import path

from otpsite.store import views

app_name = "store"
urlpatterns = [
    path("<slug:store_slug>/<slug:app_slug>/", views.page, name="page"),
    path("<slug:store_slug>/<slug:app_slug>/code/", views.request_code, name="request_code"),
    path("<slug:store_slug>/<slug:app_slug>/verify/", views.verify_code, name="verify_code"),
    path("<slug:store_slug>/<slug:app_slug>/download/", views.download, name="download"),
    path("<slug:store_slug>/<slug:app_slug>/sign-out/", views.sign_out, name="sign_out"),
]
