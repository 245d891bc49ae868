from django.db import models


class StoreSecurity(models.TextChoices):
    PUBLIC = "public", "Public"
    LOGGED = "logged", "Signed-in users only"


class Visibility(models.TextChoices):
    ACTIVE = "active", "Active"
    INACTIVE = "inactive", "Inactive"
    UNLISTED = "unlisted", "Unlisted"


class ActorType(models.TextChoices):
    API_KEY = "api_key", "API key"
    STAFF = "staff", "Staff user"
    PERSON = "person", "Person (store page)"
    SYSTEM = "system", "System"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Success"
    FAILURE = "failure", "Failure"


class CodeAlphabet(models.TextChoices):
    DIGITS = "digits", "Digits (0-9)"
    ALPHANUMERIC = "alphanumeric", "Upper-case letters and digits (A-Z, 0-9)"
