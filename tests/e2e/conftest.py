import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in the test thread; Django's ORM calls from the test are safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class CspWatchedBrowser:
    """The browser, with every page's Content-Security-Policy violations and script errors collected:
    Chromium reports a refused inline script, eval or resource as a console error, and a script that
    fails (e.g. one refused eval) as a page error."""

    def __init__(self, browser):
        self.browser = browser
        self.violations: list[str] = []

    def new_context(self, **options):
        context = self.browser.new_context(**options)
        context.on("console", self._console)
        context.on("weberror", lambda error: self.violations.append(f"page error: {error.error}"))
        return context

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Content-Security-Policy" in text or "Alpine Expression Error" in text:
            self.violations.append(f"{message.type} on {message.page.url if message.page else '?'}: {text}")

    def __getattr__(self, name):
        return getattr(self.browser, name)


@pytest.fixture(scope="session")
def chromium_browser():
    if not os.path.exists(CHROMIUM):
        message = "Debian's Chromium is not installed (apt-get install chromium)."
        if os.environ.get("CI"):
            pytest.fail(message + " CI must run the browser tests.")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def chromium(chromium_browser):
    """Every browser journey also proves its pages run under the site's Content-Security-Policy."""
    watched = CspWatchedBrowser(chromium_browser)
    yield watched
    assert not watched.violations, "\n".join(watched.violations)


@pytest.fixture
def screenshots(request):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    taken = []
    test = request.node.name.removeprefix("test_")[:40]

    def shoot(page, name: str) -> None:
        path = ARTIFACTS / f"{test}-{len(taken) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        taken.append(path)

    return shoot


# The admin's markup is django-unfold's: buttons rather than inputs, messages known by their text.
def admin_sign_in(page, base_url: str, username: str, password: str, before_submit=None) -> None:
    page.goto(f"{base_url}/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    if before_submit:
        before_submit()
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")


def admin_save(page, message: str) -> None:
    page.click("button[name=_save]")
    page.get_by_text(message).first.wait_for()


def choose_autocomplete(page, field: str, search: str, option: str) -> None:
    """Pick an option in an admin autocomplete (select2) field, as a person does."""
    page.click(f"#id_{field} + .select2 .select2-selection")
    page.fill(".select2-container--open .select2-search__field", search)
    page.click(f".select2-results__option:has-text('{option}')")
