"""Actions on an object's own page (django-unfold's detail actions): a page that asks what the action
needs (a reason, a scope), then a service call, then back to the object with a message. The object is
looked up through the admin's scoped queryset, so another organization's object is not found."""

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from unfold.widgets import UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget


class ReasonForm(forms.Form):
    reason = forms.CharField(
        max_length=200,
        widget=UnfoldAdminTextInputWidget,
        help_text="Recorded with the change and in the audit log.",
    )


class CardReasonForm(ReasonForm):
    detail = forms.CharField(max_length=500, required=False, widget=UnfoldAdminTextareaWidget(attrs={"rows": 2}))


class ConfirmForm(forms.Form):
    """An action that needs nothing but a deliberate second click."""


def object_for_action(model_admin, request, object_id: str):
    obj = model_admin.get_object(request, unquote(object_id))
    if obj is None:
        raise Http404
    return obj


def change_url(model_admin, obj) -> str:
    opts = model_admin.opts
    return reverse(f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])


def action_page(
    model_admin,
    request,
    obj,
    *,
    title: str,
    form: forms.Form,
    submit: str,
    intro: str = "",
    template: str = "admin/object_action.html",
    **context,
) -> TemplateResponse:
    return TemplateResponse(
        request,
        template,
        {
            **model_admin.admin_site.each_context(request),
            "opts": model_admin.opts,
            "original": obj,
            "object_url": change_url(model_admin, obj),
            "title": title,
            "form": form,
            "submit": submit,
            "intro": intro,
            **context,
        },
    )


def back_to_object(model_admin, request, obj, message: str, level: int = messages.SUCCESS) -> HttpResponseRedirect:
    model_admin.message_user(request, message, level)
    return HttpResponseRedirect(change_url(model_admin, obj))
