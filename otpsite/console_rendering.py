"""Two costs of django-unfold 0.91's changelist rows, each paid per row of every page.

Headers: django-unfold 0.91 builds a changelist's column headers again for every row it renders (`items_for_result`
calls `result_headers` once per row, for the row's header texts): rows × columns header computations, each
with its sort links, about 150 of the 180 ms a 100-row page of issued codes takes. Upstream has since changed
the rows to reuse the page's headers (unfoldadmin/django-unfold#2172); until a release carries it, the headers
are built once per changelist and shared by the header row and every result row, which only read them.

Checkboxes: each row's action checkbox is a widget rendered through the template engine, the same markup
every time but for the row's id. It is rendered once per language and the id put in, escaped.
"""

import functools

from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language
from unfold import admin as unfold_admin
from unfold.templatetags import unfold_list
from unfold.widgets import UnfoldBooleanWidget

_VALUE_STAND_IN = "\x1fvalue\x1f"


class CheckboxRenderedOnce(UnfoldBooleanWidget):
    """The action checkbox: rendered through its template once per name and language, then only the value
    changes. Never checked (its check_test answers False), so the value is all that differs between rows."""

    def __init__(self, widget: UnfoldBooleanWidget):
        super().__init__(widget.attrs, widget.check_test)
        self.attrs = widget.attrs  # as given: the parent's constructor would add its classes a second time
        self._rendered: dict[tuple[str, str | None], tuple[str, ...]] = {}

    def render(self, name, value, attrs=None, renderer=None):
        if attrs is not None or renderer is not None:
            return super().render(name, value, attrs, renderer)
        key = (name, get_language())
        parts = self._rendered.get(key)
        if parts is None:
            parts = self._rendered[key] = tuple(str(super().render(name, _VALUE_STAND_IN)).split(_VALUE_STAND_IN))
        if len(parts) != 2:
            return super().render(name, value)
        return mark_safe(parts[0] + escape(str(value)) + parts[1])


def render_checkboxes_once() -> None:
    if not isinstance(unfold_admin.checkbox, CheckboxRenderedOnce):
        unfold_admin.checkbox = CheckboxRenderedOnce(unfold_admin.checkbox)


def build_headers_once() -> None:
    built = unfold_list.result_headers
    if getattr(built, "once_per_changelist", False):
        return

    @functools.wraps(built)
    def result_headers(changelist):
        headers = changelist.__dict__.get("_console_result_headers")
        if headers is None:
            headers = changelist._console_result_headers = list(built(changelist))
        return iter(headers)

    result_headers.once_per_changelist = True
    unfold_list.result_headers = result_headers
