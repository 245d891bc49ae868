"""Project-layer state: the client limits' counters when they live in the database."""

from django.db import models


class RateLimitCounter(models.Model):
    """Events counted in one fixed window of one client limit (`key` names the limit, the client and the
    window). Raised by one INSERT … ON CONFLICT DO UPDATE … RETURNING, so parallel requests on any number
    of nodes each see a distinct count; rows whose window has ended are deleted as they are found."""

    key = models.CharField(max_length=255, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
