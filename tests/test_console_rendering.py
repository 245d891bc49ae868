"""otpsite.console_rendering: the changelist rows cost what their cells cost."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse
from unfold import admin as unfold_admin
from unfold.templatetags import unfold_list
from unfold.widgets import UnfoldBooleanWidget

from otpsite.console_rendering import CheckboxRenderedOnce
from tests.credentials.helpers import issue, person_in

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["1", "4711", '"><script>x</script>&'])
def test_a_checkbox_is_the_widget_s_own_markup_with_the_value_escaped(value):
    widget = UnfoldBooleanWidget({"class": "action-select", "aria-label": "Select record"}, lambda value: False)
    assert CheckboxRenderedOnce(widget).render(ACTION_CHECKBOX_NAME, value) == widget.render(
        ACTION_CHECKBOX_NAME, value
    )


def test_the_changelist_uses_the_checkbox_rendered_once(superuser_client):
    person = person_in()
    code = issue(person).code
    response = superuser_client.get(reverse("admin:credentials_issuedcode_changelist"))
    assert isinstance(unfold_admin.checkbox, CheckboxRenderedOnce)
    assert f'value="{code.pk}"' in response.content.decode()


def labels_computed_for(superuser_client, monkeypatch, codes: int) -> int:
    person = person_in(daily_issue_limit=1000, resend_cooldown_seconds=0)
    for _ in range(codes):
        issue(person)
    calls = []
    label_for_field = unfold_list.label_for_field
    monkeypatch.setattr(
        unfold_list, "label_for_field", lambda *args, **kwargs: calls.append(args) or label_for_field(*args, **kwargs)
    )
    response = superuser_client.get(reverse("admin:credentials_issuedcode_changelist"))
    assert response.status_code == 200 and response.content.decode().count('name="_selected_action"') == codes
    return len(calls)


def test_the_headers_are_built_once_per_page_whatever_its_rows(superuser_client, monkeypatch):
    from credentials.admin import IssuedCodeAdmin

    assert labels_computed_for(superuser_client, monkeypatch, 12) <= len(IssuedCodeAdmin.list_display) + 1
