"""Admin search and paging that hold at millions of rows.

Django's stock search turns every search field into `UPPER(col) LIKE UPPER('%term%')`, which no index
serves: at a million people or ten million codes each search read the whole table, twice (the bounded
count, then the page). Here each admin says what a term can be (an identifier, a number, a public id, a
UUID, part of a name) and each of those becomes a condition an index answers:

- identifiers: `lower(col) = lower(term)` with `col <> ''`, the exact shape of the case-insensitive unique
  indexes on the people table (otpusers_otpuser_unique_<field>, partial on set identifiers);
- integer and public ids: equality on the primary key or the unique public id;
- parts of names, emails, mobiles (three characters or more): `lower(col) LIKE '%term%'`, served on
  PostgreSQL by the trigram index otpusers_otpuser_search_trgm (migration 0002);
- anything else the admin names explicitly (exact request ids, actions, API key ids).

A search of several words keeps every word (each must match), as Django's does. `search_fields` stays on
each admin for the search box and for autocomplete_fields elsewhere, which need it; the lookups come
from `search_conditions`.
"""

import uuid

from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ImproperlyConfigured
from django.core.paginator import Paginator
from django.db.models import Q
from django.utils.functional import cached_property
from django.utils.text import smart_split, unescape_string_literal

from otpusers.ids import normalize_public_id
from otpusers.models import OtpUser

# pg_trgm finds no trigram in a shorter term, and would read the whole index.
MIN_SUBSTRING_LENGTH = 3
MAX_SEARCH_WORDS = 5
_BIGINT_MAX = 2**63 - 1
_NOTHING = Q(pk__in=[])


class BoundedCountPaginator(Paginator):
    """Counts at most a little past what a person pages through, so a changelist over millions of rows
    never runs an unbounded COUNT(*); and counts by fetching those rows' ids, in the changelist's order,
    so that a page is then read by primary key instead of running the search or filter a second time."""

    # Ten pages of a hundred: past them staff narrow the search. A filter that one row in twenty matches
    # reads twenty thousand rows to count this far, whatever the size of the table.
    COUNT_LIMIT = 1_000

    @cached_property
    def first_ids(self) -> list:
        return list(self.object_list.values_list("pk", flat=True)[: self.COUNT_LIMIT + 1])

    @cached_property
    def count(self) -> int:
        return len(self.first_ids)

    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        return self._get_page(self.object_list.filter(pk__in=self.first_ids[bottom:top]), number, self)


class LargeTableChangeList(ChangeList):
    """A changelist whose page is read by the ids the paginator counted (Django would run the search
    again, whole, when it fits on one page), and sorted only by the columns in `sortable_by`: Django
    hides the other column headers' links but still obeys `?o=` for them, which would sort millions of
    rows."""

    def get_results(self, request):
        super().get_results(request)
        if isinstance(self.paginator, BoundedCountPaginator) and not (self.show_all and self.can_show_all):
            self.result_list = self.paginator.page(self.page_num if self.multi_page else 1).object_list

    def get_ordering_field(self, field_name):
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)


def as_integer(term: str) -> int | None:
    """The term as a database id (a positive bigint, written without leading zeros), or None."""
    if term.isascii() and term.isdigit() and not term.startswith("0") and int(term) <= _BIGINT_MAX:
        return int(term)
    return None


def as_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term)
    except ValueError:
        return None


def as_public_id(term: str) -> str | None:
    return normalize_public_id(term)


def identifier_equals(term: str, *fields: str) -> Q:
    """Rows whose identifier equals the term ignoring case, each through its unique `lower(col)` index
    (partial on set identifiers, hence `col <> ''`)."""
    condition = _NOTHING
    for field in fields:
        condition |= Q(**{f"{field}__lower": term.lower(), f"{field}__is_set": True})
    return condition


def lowercase_contains(term: str, *fields: str) -> Q:
    """`lower(col) LIKE '%term%'` on each field: the trigram index's expression. Nothing for a short term."""
    condition = _NOTHING
    if len(term) >= MIN_SUBSTRING_LENGTH:
        for field in fields:
            condition |= Q(**{f"{field}__lower__contains": term.lower()})
    return condition


def matching_ids(queryset, limit: int = 1000) -> list[int]:
    """The ids of a small related set (the people an identifier names, the API keys a key id names),
    fetched first: `fk = ANY(ids)` can join the other branches of a search in one bitmap scan, where
    `fk IN (subquery)` inside an OR becomes a filter run on every row of the big table."""
    return list(queryset.order_by().values_list("pk", flat=True)[:limit])


class IndexedSearchMixin:
    """A ModelAdmin mixin: the search box (and autocomplete lookups into this admin) answered by
    `search_conditions`, one Q object per word, each branch served by an index."""

    def search_conditions(self, request, term: str) -> Q:
        raise ImproperlyConfigured(f"{type(self).__name__} must say how a search term is found through indexes.")

    # Whether each word of a search must match on its own (names: "anna müller"); off where what staff
    # search may hold spaces and is matched whole (an API key's name).
    search_by_word = True

    def get_search_results(self, request, queryset, search_term):
        if not self.search_by_word:
            term = search_term.strip()
            return (queryset.filter(self.search_conditions(request, term)) if term else queryset), False
        words = []
        for word in smart_split(search_term):
            if word[:1] in ("'", '"') and word[0] == word[-1] and len(word) > 1:
                word = unescape_string_literal(word)
            if word.strip():
                words.append(word.strip())
        for word in words[:MAX_SEARCH_WORDS]:
            queryset = queryset.filter(self.search_conditions(request, word))
        return queryset, False


#
# People: searched on their own page, and named by an identifier on the pages of what is theirs.
#

PERSON_IDENTIFIER_FIELDS = ("email", "mobile", "user_name", "external_id", "ext_id", "wechat_id")
PERSON_SUBSTRING_FIELDS = ("email", "mobile", "user_name", "first_name", "last_name")


def person_named_by(term: str) -> Q:
    """A person an exact identifier (any case), an integer id (Capillary userId) or a UUID names."""
    condition = identifier_equals(term, *PERSON_IDENTIFIER_FIELDS)
    if (number := as_integer(term)) is not None:
        condition |= Q(pk=number)
    if (value := as_uuid(term)) is not None:
        condition |= Q(uuid=value)
    return condition


def person_conditions(term: str) -> Q:
    """The people page's search. A term that names people exactly (an identifier, an id, a UUID) finds
    them, looked up first through the unique indexes; any other term of three characters or more is part
    of an email, mobile (with its +), user name or name (trigram index). Kept apart, each query has one
    plan that fits it: the planner cannot tell how many rows an OR of both kinds matches, and guessing
    many, it walked every person newest first for an email that names one."""
    named = person_ids_named_by(term)
    if named or as_integer(term) is not None:
        return Q(pk__in=named)
    return lowercase_contains(term, *PERSON_SUBSTRING_FIELDS)


def person_ids_named_by(term: str) -> list[int]:
    return matching_ids(OtpUser.objects.filter(person_named_by(term)))
