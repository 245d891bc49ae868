import math

from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination

from otpsite.api.serializers import QueryParametersSerializer

# The last page anyone can ask for: far past any real listing, and small enough that the row offset
# (page × limit) stays within PostgreSQL's bigint.
MAX_PAGE = 1_000_000
MAX_LIMIT = 1000


class PageLimitSerializer(QueryParametersSerializer):
    page = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=50)


class MongoosePagination(BasePagination):
    """`?page=&limit=` paging answered with the mongoose-paginate block the Node-based vendors return.

    Bad values are refused (400), never clamped silently. An unordered queryset is refused too: its pages
    would not be stable. totalDocs comes from the view's `known_total()` when it has one (a counter kept
    exact, so that a page does not count a whole store); else from the page itself when it is the last one
    (fewer rows than the limit: every page before it was full); else from a COUNT."""

    def paginate_queryset(self, queryset, request, view=None):
        if not queryset.ordered:
            raise TypeError(f"{view.__class__.__name__} must paginate an ordered queryset.")
        params = PageLimitSerializer(data=request.query_params)
        if not params.is_valid():
            raise ValidationError(params.errors)
        self.page, self.limit = params.validated_data["page"], params.validated_data["limit"]
        known_total = getattr(view, "known_total", None)
        total = known_total() if known_total is not None else None
        offset = (self.page - 1) * self.limit
        # Past the last page this is an empty page, as mongoose-paginate answers.
        items = list(queryset[offset : offset + self.limit])
        if total is None:
            last_page = len(items) < self.limit and (items or offset == 0)
            total = offset + len(items) if last_page else queryset.count()
        self.total = total
        return items

    def get_paginated_response_data(self, items: list) -> dict:
        total_pages = max(math.ceil(self.total / self.limit), 1)
        has_prev, has_next = self.page > 1, self.page < total_pages
        return {
            "items": items,
            "totalDocs": self.total,
            "limit": self.limit,
            "hasPrevPage": has_prev,
            "hasNextPage": has_next,
            "page": self.page,
            "totalPages": total_pages,
            "pagingCounter": (self.page - 1) * self.limit + 1,
            "prevPage": self.page - 1 if has_prev else None,
            "nextPage": self.page + 1 if has_next else None,
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": "page",
                "in": "query",
                "required": False,
                "description": f"Page number, 1 to {MAX_PAGE}.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
            },
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": f"Page size, 1 to {MAX_LIMIT}.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 50},
            },
        ]
