import copy
from collections.abc import Mapping

from rest_framework import serializers

# Fields that keep nothing mutable once made: a shallow copy of the declared one serves a new serializer.
PLAIN_FIELDS = (
    serializers.BooleanField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.DateField,
    serializers.DateTimeField,
    serializers.DecimalField,
    serializers.FloatField,
    serializers.IntegerField,
)
NESTING_FIELDS = (
    serializers.BaseSerializer,
    serializers.DictField,
    serializers.ListField,
    serializers.MultipleChoiceField,
)


class InputSerializer(serializers.Serializer):
    """A request's body or query parameters. DRF deep-copies every declared field for each serializer made,
    by building the field again from its arguments: for a request's input, most of the time its validation
    takes. A plain field is copied shallowly instead (bound to this serializer like the deep copy would be);
    one that nests others is deep-copied as DRF does."""

    def get_fields(self):
        return {
            name: copy.copy(field)
            if isinstance(field, PLAIN_FIELDS) and not isinstance(field, NESTING_FIELDS)
            else copy.deepcopy(field)
            for name, field in self._declared_fields.items()
        }


class StrictInputSerializer(InputSerializer):
    """An input body that must be a JSON object and may hold only the declared fields.

    A misspelt field is an error rather than a silent no-op, so a client learns at once that its update
    did not do what it meant."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class QueryParametersSerializer(InputSerializer):
    """Query parameters, where a parameter given with no value (`?limit=`) is an error, as the schema says,
    rather than read as absent (DRF's reading of HTML forms). Fields that allow blank keep allowing it."""

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            empty = [
                name
                for name, field in self.fields.items()
                if name in data and data.get(name) == "" and not getattr(field, "allow_blank", False)
            ]
            if empty:
                raise serializers.ValidationError(
                    {name: ["Give a value, or leave the parameter out."] for name in empty}
                )
        return super().to_internal_value(data)
