"""The shipped .streamlit/config.toml and page setup, as a user's browser sees them: no
Streamlit developer chrome, nothing fetched from the internet, a quiet server log."""
from playwright.sync_api import expect

from tests.e2e.conftest import wait_for_app


def test_no_developer_chrome_no_outside_requests_and_a_quiet_log(server, page, tmp_path):
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((server, "data:", "blob:")) else None)
    page.goto(server)
    wait_for_app(page)
    expect(page.get_by_role("heading", name="Поиск")).to_be_visible()
    for name in ("Данные", "Разметка", "Поиск"):
        page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click()
        wait_for_app(page)
    # toolbarMode minimal: no Deploy button, no (English) main menu
    expect(page.get_by_test_id("stAppDeployButton")).to_have_count(0)
    expect(page.get_by_test_id("stMainMenu")).to_have_count(0)
    # the favicon is an emoji drawn in the page, not a Material icon from fonts.gstatic.com
    icon = page.locator("link[rel='shortcut icon'], link[rel='icon']").first.get_attribute("href")
    assert icon.startswith("data:image/svg+xml"), icon
    assert outside == []                        # no usage stats, no fonts, no icons from the internet
    log = (tmp_path / "server.log").read_text()
    assert "inotify" not in log.lower() and "watchdog" not in log.lower(), log[-2000:]
    assert "Traceback" not in log, log[-2000:]


def test_the_file_uploader_speaks_russian(server, page):
    page.goto(server)
    wait_for_app(page)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Данные").click()
    wait_for_app(page)
    zone = page.get_by_test_id("stFileUploaderDropzone")
    expect(zone).to_be_visible()

    def drawn(selector: str) -> tuple[str, str]:
        """(the English text's font size, the text drawn over it)."""
        return zone.locator(selector).first.evaluate(
            "e => [getComputedStyle(e).fontSize, getComputedStyle(e, '::after').content]")

    size, text = drawn("button [data-testid='stMarkdownContainer'] p")
    assert size == "0px" and text == '"Выбрать файл"'
    size, text = drawn("[data-testid='stFileUploaderDropzoneInstructions'] span")
    assert size == "0px" and "перетащите" in text and "МБ" in text
    # a chosen file's size ("93.0B") is hidden; its name stays
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(files=[{
        "name": "ads.csv", "mimeType": "text/csv", "buffer": "id,channel_id,raw_text\np1,c1,Скидка\n".encode()}])
    wait_for_app(page)
    chip = page.get_by_test_id("stFileChip")
    expect(chip.get_by_test_id("stFileChipName")).to_have_text("ads.csv")
    expect(chip.locator("[data-testid='stFileChipName'] + div")).to_be_hidden()
