"""The browser phone's ring against the pop card, beside a desk phone's (issue 15), on the lab.

One agent (alice, extension 1001) with both phones: the page's browser phone (JsSIP in
Chromium with fake media, the agent desktop as served by ``cti serve``) and a pjsua2 desk phone.
Each carrier call (SIPp, to alice's DID) rings both together (``PJSIP/1001&PJSIP/1001-webrtc``);
per call the bench takes three instants on the machine's wall clock:

- the pop card: the ``article.card`` element added to the page (a MutationObserver in the page,
  ``performance.timeOrigin + performance.now()``);
- the browser phone's ring: the phone panel entering ``data-call="ringing"`` (same observer);
- the desk phone's ring: pjsua2's ``onIncomingCall`` (``time.monotonic()``, moved to the wall
  clock by one offset taken at the start).

The figures are ``card - ring`` for each phone (negative: the card came first). Nobody answers:
the bench hangs the call up once both rang and the card showed, and waits for the lab to be
idle before the next call, so calls never overlap. The caller is the demo CRM's Alice Archer
every time (a matched pop, the lookup as a repeat caller's).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from cti.config import LabSettings
from sip_tests.bench.results import Report, summary_ms
from sip_tests.daemon import DaemonProcess
from sip_tests.lab import LabHandle, direct_did, start_lab
from sip_tests.phone import Manual, PhoneFleet
from sip_tests.sipp import inbound_call

__all__ = ["run_webphone"]

CHROMIUM = "/usr/bin/chromium"
_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--allow-loopback-in-peer-connection",
]
CALLER = ("+442079460001", "Alice Archer")  # in the demo CRM

# Playwright injects this before the page's own scripts (the page's CSP does not apply to it).
_OBSERVER = """
(() => {
  const now = () => performance.timeOrigin + performance.now();
  window.__bench = {};
  new MutationObserver((records) => {
    const marks = window.__bench;
    for (const r of records) {
      if (r.type === "attributes" && r.target.id === "phone"
          && r.target.dataset.call === "ringing" && marks.ring === undefined) marks.ring = now();
      for (const node of r.addedNodes || []) {
        if (node.nodeType === 1 && node.matches("article.card") && marks.card === undefined)
          marks.card = now();
      }
    }
  }).observe(document, { subtree: true, childList: true, attributes: true,
                         attributeFilter: ["data-call"] });
})();
"""


def run_webphone(*, quick: bool, lab_settings: LabSettings) -> Report:
    """Ring alice's two phones ``calls`` times; report card - ring for each phone."""
    calls = 8 if quick else 40
    lab = start_lab(lab_settings)
    work = Path(tempfile.mkdtemp(prefix="cti-bench-webphone-"))
    daemon = DaemonProcess(lab, work)
    seeded = daemon.cli("seed")
    if seeded.returncode != 0:
        raise RuntimeError(f"cti seed failed: {seeded.stderr}")
    daemon.start()
    try:
        browser_s, desk_s = _measure(lab, daemon, calls)
    finally:
        daemon.stop()
        if lab.started_here:
            lab.instance.stop()
    report = Report("webphone", quick)
    for label, values in (("browser phone", browser_s), ("desk phone", desk_s)):
        summary = summary_ms(values)
        report.add(f"card - ring, {label}, p50", summary["p50_ms"], "ms")
        report.add(f"card - ring, {label}, p99", summary["p99_ms"], "ms")
        report.details[label] = summary
    report.details["calls"] = calls
    report.details["browser_card_minus_ring_ms"] = [round(v * 1000, 2) for v in browser_s]
    report.details["desk_card_minus_ring_ms"] = [round(v * 1000, 2) for v in desk_s]
    return report


def _measure(lab: LabHandle, daemon: DaemonProcess, calls: int) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (only this bench needs it)

    browser_s: list[float] = []
    desk_s: list[float] = []
    with PhoneFleet() as fleet, sync_playwright() as playwright:
        desk = fleet.phone("1001", lab.password("1001"), lab.registrar)
        desk.wait_registered(10)
        desk.set_answer_policy(Manual())
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
        try:
            page = _signed_in(chromium, daemon)
            offset = time.time() - time.monotonic()
            for _ in range(calls):
                marks, invite_at = _one_call(lab, page, desk)
                browser_s.append((marks["card"] - marks["ring"]) / 1000)
                desk_s.append(marks["card"] / 1000 - (invite_at + offset))
        finally:
            chromium.close()
    return browser_s, desk_s


def _signed_in(chromium: Any, daemon: DaemonProcess) -> Any:
    context = chromium.new_context(permissions=["microphone"])
    context.add_init_script(_OBSERVER)
    page = context.new_page()
    page.goto(f"{daemon.origin}/agent")
    page.fill("#login-username", "alice")
    page.fill("#login-password", "alice-demo")
    page.click("#login-form button[type=submit]")
    page.locator("#phone[data-status='registered']").wait_for(state="attached", timeout=20_000)
    return page


def _one_call(lab: LabHandle, page: Any, desk: Any) -> tuple[dict[str, float], float]:
    lab.wait_idle(20)
    desk.reset()
    page.evaluate("() => { window.__bench = {}; }")
    call = inbound_call(lab.sip, direct_did("1001"), *CALLER, hold_s=5, answer_timeout_s=15)
    try:
        ringing = desk.wait_ringing(10)
        page.wait_for_function(
            "() => window.__bench.card !== undefined && window.__bench.ring !== undefined",
            timeout=10_000,
        )
        marks: dict[str, float] = page.evaluate("() => window.__bench")
    finally:
        lab.hangup_all()
        call.stop()
    page.locator("#phone[data-call='ringing']").wait_for(state="detached", timeout=10_000)
    return marks, ringing.invite_at
