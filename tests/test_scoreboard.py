"""The scoreboard, built from real tiny runs: rows follow the declarations, strict JSON, a self-contained
page; and in a real browser (Debian's headless chromium, driven over the DevTools protocol): the rows are
in the rendered DOM, the filters change what is shown, and a row's link opens the experiment's report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from sgdnoise import report, scoreboard
from sgdnoise.cli import main
from sgdnoise.experiments.registry import entries, entry, get_experiment, inventories
from sgdnoise.experiments.suite import SELECTION_FILE, reproduce_all

RAN, FAILED = "smith-le-batch", "smith-le-gradient-noise"


@pytest.fixture(scope="module")
def out_root(tmp_path_factory) -> Path:
    """One tiny run that finishes and one that fails (its spec refuses n_repeats=0), as reproduce all leaves them."""
    root = tmp_path_factory.mktemp("all")
    overrides = {RAN: get_experiment(RAN).tiny["quick"], FAILED: {"n_repeats": 0}}
    reproduce_all(
        [entry(RAN), entry(FAILED)], root, scale="quick", overrides=overrides, device="cpu", executor="inline",
        show_progress=False,
    )  # fmt: skip
    scoreboard.write(root, [RAN, FAILED])
    return root


def read_document(root: Path) -> dict:
    def refuse(constant):
        raise AssertionError(f"non-strict JSON constant {constant}")

    return json.loads((root / scoreboard.SCOREBOARD_JSON).read_text(), parse_constant=refuse)


def test_rows_follow_the_declarations_and_the_summaries(out_root):
    document = read_document(out_root)
    summary = report.read_summary(out_root / RAN)
    declared = [(name, c.id) for name in (RAN, FAILED) for c in get_experiment(name).claims]
    run_rows = [r for r in document["claims"] if r["experiment"] is not None]
    assert [(r["experiment"], r["id"]) for r in run_rows] == declared
    # then the claims of the shown paper that its inventory lists as checked by no experiment, with the reason
    unchecked = [item for inv in inventories() if inv.paper == "smith-le-2018" for item in inv.not_checked]
    inventory_rows = document["claims"][len(run_rows) :]
    assert [r["statement"] for r in inventory_rows] == [item.statement for item in unchecked] != []
    for row in inventory_rows:
        assert row["verdict"] == "not checked" and row["note"].startswith("no experiment checks it")
    recorded = {c["id"]: c for c in summary["claims"]}
    for row in run_rows:
        if row["experiment"] == RAN:
            assert row["verdict"] == recorded[row["id"]]["verdict"] and row["report"] == f"{RAN}/report.html"
            assert row["wall_seconds"] == summary["wall_seconds"] and row["scale"] == "quick (changed by --set)"
        else:
            assert row["verdict"] == "not checked" and "n_repeats" in row["note"] and row["report"] is None
        assert row["figure"] == row["id"].split("/")[0] and row["paper"] == "smith-le-2018"
    totals = document["totals"]
    total = len(declared) + len(unchecked)
    assert totals["overall"]["total"] == total == sum(totals["overall"][v] for v in scoreboard.VERDICTS)
    assert totals["by_paper"] == {"smith-le-2018": totals["overall"]}
    assert [(e["name"], e["status"]) for e in document["experiments"]] == [(RAN, "complete"), (FAILED, "failed")]


def test_a_claim_declared_differently_since_the_run_is_not_checked(out_root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(out_root / RAN, copy / RAN)
    summary = json.loads((copy / RAN / report.SUMMARY_FILE).read_text())
    summary["claims"][0]["statement"] = "an older wording"
    (copy / RAN / report.SUMMARY_FILE).write_text(json.dumps(summary))
    rows = [r for r in scoreboard.build(copy)["claims"] if r["experiment"] is not None]
    assert rows[0]["verdict"] == "not checked" and "declared differently" in rows[0]["note"]
    assert [r["verdict"] for r in rows[1:]] == [c["verdict"] for c in summary["claims"][1:]]


def test_another_experiments_summary_in_a_directory_is_named_not_counted_as_complete(out_root, tmp_path):
    """Before: "complete", with every claim "declared differently since it ran"."""
    copy = tmp_path / "copy"
    shutil.copytree(out_root / RAN, copy / FAILED)
    entry = scoreboard.build(copy)["experiments"][0]
    assert entry["status"] == "unreadable"
    assert f"is the summary of '{RAN}', not of {FAILED}: move {copy / FAILED} aside" in entry["reason"]


def test_a_renamed_experiment_directory_is_named_as_left_out(out_root, tmp_path):
    """Before, the scoreboard command ignored it without a word."""
    copy = tmp_path / "copy"
    shutil.copytree(out_root / RAN, copy / RAN)
    shutil.copytree(out_root / RAN, copy / "my-old-run")
    result = CliRunner().invoke(main, ["scoreboard", str(copy)])
    assert result.exit_code == 0
    assert f"left out: {copy / 'my-old-run'} holds a summary.json but is named after no experiment" in result.output


def test_the_page_is_self_contained(out_root):
    page = (out_root / scoreboard.SCOREBOARD_HTML).read_text()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page) and "<link" not in page
    assert "@import" not in page and "url(" not in page


def test_scoreboard_command_on_a_directory_without_outputs_is_one_clear_line(tmp_path):
    result = CliRunner().invoke(main, ["scoreboard", str(tmp_path)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "no experiment outputs" in result.output and "reproduce all" in result.output


def test_an_interrupted_reproduce_all_lists_the_experiments_it_never_started(out_root, tmp_path):
    shutil.copytree(out_root / RAN, tmp_path / RAN)  # complete: skipped, then the interrupt comes
    never_started = "smith-le-gap"

    def interrupt(outcome):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        reproduce_all(
            [entry(RAN), entry(FAILED), entry(never_started)], tmp_path, scale="quick",
            overrides={RAN: get_experiment(RAN).tiny["quick"]}, on_outcome=interrupt, device="cpu",
            executor="inline", show_progress=False,
        )  # fmt: skip
    assert not (tmp_path / FAILED).exists() and not (tmp_path / never_started).exists()
    result = CliRunner().invoke(main, ["scoreboard", str(tmp_path)])
    assert result.exit_code == 0, result.output
    document = read_document(tmp_path)
    selected = [e.name for e in entries() if e.name in {RAN, FAILED, never_started}]
    status = {RAN: "complete", FAILED: "not run", never_started: "not run"}
    assert [(e["name"], e["status"]) for e in document["experiments"]] == [(n, status[n]) for n in selected]
    for name in (FAILED, never_started):
        rows = [r for r in document["claims"] if r["experiment"] == name]
        assert [r["id"] for r in rows] == [c.id for c in get_experiment(name).claims] != []
        assert all(r["verdict"] == "not checked" and r["note"] == "not run yet" for r in rows)
    assert scoreboard.totals_line(document["totals"]["overall"]) in result.output


def test_scoreboard_command_on_one_experiments_directory_names_the_report_command(out_root):
    result = CliRunner().invoke(main, ["scoreboard", str(out_root / RAN)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert f"run `sgdnoise report {out_root / RAN}`" in result.output and "reproduce all --out" not in result.output
    assert not (out_root / RAN / scoreboard.SCOREBOARD_JSON).exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "is not valid JSON"), ('{"experiments": ["a"]}', "lacks its 'experiments' object")],
)
def test_an_unreadable_selection_file_is_one_clear_line(tmp_path, content, message):
    (tmp_path / SELECTION_FILE).write_text(content)
    result = CliRunner().invoke(main, ["scoreboard", str(tmp_path)])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1, result.output
    assert f"{tmp_path / SELECTION_FILE} {message}" in result.output and "delete it" in result.output


# ------------------------------------------------------------------------------ in a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """Headless chromium and one page of it, driven over the DevTools protocol (websocket-client)."""

    def __init__(self, profile: Path) -> None:
        import websocket

        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-port=0",
             "--allow-file-access-from-files", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            page = next(t for t in json.load(response) if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0

    def call(self, method: str, **params):
        message = self._message(method, **params)
        assert "error" not in message, message
        return message["result"]

    def _message(self, method: str, **params) -> dict:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self.next_id:
                return message

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"].get("value")

    def _ready(self, condition: str) -> bool:
        """The condition on a loaded page; False while a navigation replaces the page under the evaluation."""
        expression = f"document.readyState === 'complete' && ({condition})"
        message = self._message("Runtime.evaluate", expression=expression, returnByValue=True)
        if "navigated or closed" in message.get("error", {}).get("message", ""):
            return False
        assert "error" not in message and "exceptionDetails" not in message["result"], message
        return bool(message["result"]["result"].get("value"))

    def open(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for(f"location.href.split('#')[0] === {json.dumps(url.split('#')[0])}")

    def wait_for(self, condition: str) -> None:
        deadline = time.monotonic() + 20
        while not self._ready(condition):
            assert time.monotonic() < deadline, f"timed out waiting for {condition}"
            time.sleep(0.05)

    def close(self) -> None:
        if hasattr(self, "socket"):
            self.socket.close()
        self.process.kill()
        self.process.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    pytest.importorskip("websocket", reason="websocket-client (the dev extra) drives the browser")
    page = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield page
    page.close()


VISIBLE = "[...document.querySelectorAll('#claims tbody tr')].filter((tr) => !tr.hidden)"


def choose(browser: Browser, select: str, value: str) -> None:
    """Pick an option of a filter as a user does: set it and fire the change event."""
    browser.evaluate(
        f"(() => {{ const s = document.getElementById('{select}'); s.value = {json.dumps(value)}; "
        "s.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )


def test_rows_are_rendered_and_the_filters_change_what_is_shown(browser, out_root):
    document = read_document(out_root)
    counts = document["totals"]["overall"]
    browser.open((out_root / scoreboard.SCOREBOARD_HTML).as_uri())
    assert browser.evaluate("document.querySelectorAll('#claims tbody tr').length") == counts["total"]
    assert browser.evaluate(f"{VISIBLE}.length") == counts["total"]
    for verdict in scoreboard.VERDICTS:
        choose(browser, "verdict", verdict)
        shown = browser.evaluate(f"{VISIBLE}.map((tr) => tr.querySelector('.verdict').textContent)")
        assert shown == [verdict] * counts[verdict]
    choose(browser, "verdict", "")
    choose(browser, "paper", "smith-le-2018")
    assert browser.evaluate(f"{VISIBLE}.length") == counts["total"]
    choose(browser, "kind", "calibration")
    kinds = [r["kind"] for r in document["claims"]]
    assert browser.evaluate(f"{VISIBLE}.length") == kinds.count("calibration")
    assert browser.evaluate("location.hash") == "#paper=smith-le-2018&kind=calibration"
    # the filters read the address too, so a filtered view can be shared
    browser.open((out_root / scoreboard.SCOREBOARD_HTML).as_uri() + "#verdict=not%20checked")
    browser.wait_for("document.getElementById('verdict').value === 'not checked'")
    assert browser.evaluate(f"{VISIBLE}.length") == counts["not checked"]


def test_a_row_link_opens_the_experiments_report(browser, out_root):
    browser.open((out_root / scoreboard.SCOREBOARD_HTML).as_uri())
    browser.evaluate(f"document.querySelector('#claims a[href=\"{RAN}/report.html\"]').click()")
    browser.wait_for("location.href.endsWith('/report.html')")
    assert browser.evaluate("document.title") == get_experiment(RAN).title
    assert (
        browser.evaluate("document.querySelectorAll('table.claims tr').length") == len(get_experiment(RAN).claims) + 1
    )
