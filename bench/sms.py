"""An SMS gateway that accepts every message and sends nothing: the load measures otpsite, not a provider."""


class DiscardSmsBackend:
    def send(self, message) -> None:
        return None
