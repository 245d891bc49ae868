from collections.abc import Mapping

from rest_framework import serializers


class StrictInputSerializer(serializers.Serializer):
    """An input body that must be a JSON object and may hold only the declared fields.

    A misspelt field is an error rather than a silent no-op, so a client learns at once that its update
    did not do what it meant."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class QueryParametersSerializer(serializers.Serializer):
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
