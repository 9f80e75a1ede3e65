"""The planner map at /planner/: who may open it, what the page carries, and a real browser.

The browser test drives Debian's Chromium through Playwright against pytest-django's live
server (which serves the static files as ``collectstatic`` would), over real PostGIS: it
signs in through the form, waits for hexagons to be drawn from the vector tiles, filters
them, clicks one and reads its counts, and saves a screenshot in test-artifacts/.
"""

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.wsgi import get_wsgi_application
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.test import Client, RequestFactory
from pytest_django import DjangoAssertNumQueries
from pytest_django.fixtures import Settings as SettingsWrapper

from geo.hotspots.rebuild import hotspots_rebuild
from geo.management.commands.load_west_mercia import FORCE_CODE
from reports.reasons import REASONS
from tests.cast import PLANNER_PASSWORD, organisation_make, planner_make
from tests.fixtures.points import WORCESTER
from tests.geo.hotspot_factories import prime_study_cache, reports_around, use_coarse_grids

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
MAPLIBRE_JS = "maplibre-gl/maplibre-gl-csp.js"
MAPLIBRE_WORKER = "maplibre-gl/maplibre-gl-csp-worker.js"


def static_get(path: str) -> tuple[int, bytes]:
    """GET a static file as the live server and ``runserver`` serve it: status and body."""
    handler = StaticFilesHandler(get_wsgi_application())
    response = handler.get_response(RequestFactory().get(path))
    if isinstance(response, StreamingHttpResponse | FileResponse):
        return response.status_code, b"".join(response.streaming_content)  # type: ignore[arg-type]
    assert isinstance(response, HttpResponse)
    body = response.content
    return response.status_code, body


def config_of(html: str) -> dict[str, Any]:
    match = re.search(r'<script id="planner-config" type="application/json">(.*?)</script>', html)
    assert match, "no JSON config in the page"
    return json.loads(match.group(1))


# --------------------------------------------------------------------------------------
# Who may open the page
# --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_sends_anonymous_visitors_to_the_login_form_and_back() -> None:
    response = Client().get("/planner/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/planner/"
    login = Client().get(response["Location"])
    assert login.status_code == 200
    assert b'name="username"' in login.content
    assert b'name="next" value="/planner/"' in login.content


@pytest.mark.django_db
def test_it_refuses_a_signed_in_user_who_is_not_a_planner(west_mercia_police: Any) -> None:
    somebody = planner_make("not-a-planner", west_mercia_police, in_group=False)
    client = Client()
    client.force_login(somebody)

    response = client.get("/planner/")

    assert response.status_code == 403
    assert b"not a planner" in response.content
    assert b"maplibre" not in response.content
    # The same account made a planner may open it: the refusal came from the planner check.
    planner = planner_make("a-planner", west_mercia_police)
    client.force_login(planner)
    assert client.get("/planner/").status_code == 200


@pytest.mark.django_db
def test_a_planner_without_an_organisation_is_refused() -> None:
    orphan = planner_make("orphan")
    client = Client()
    client.force_login(orphan)

    assert client.get("/planner/").status_code == 403


@pytest.mark.django_db
def test_a_planner_gets_the_page_with_maplibre_reasons_and_organisation(
    force_planner: User,
) -> None:
    client = Client()
    client.force_login(force_planner)

    response = client.get("/planner/")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'src="/static/{MAPLIBRE_JS}"' in html
    assert 'href="/static/maplibre-gl/maplibre-gl.css"' in html
    assert 'src="/static/geo/planner.js"' in html
    assert "West Mercia Police" in html
    assert 'name="csrfmiddlewaretoken"' in html
    config = config_of(html)
    assert config["organisation"] == "West Mercia Police"
    assert config["reasons"] == [{"code": r.code, "label": r.label} for r in REASONS]
    assert [band["code"] for band in config["bands"]] == ["day", "evening", "night", "unknown"]
    assert config["worker"] == f"/static/{MAPLIBRE_WORKER}"
    assert config["tiles"]["hotspots"] == "/tiles/hotspots/{z}/{x}/{y}.mvt"
    assert config["basemap"] == ""
    for reason in REASONS:
        assert f'value="{reason.code}"' in html
    # No script in the page but the JSON config, and a policy that keeps it so.
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    assert [attrs for attrs, body in scripts if body.strip()] == [
        ' id="planner-config" type="application/json"'
    ]
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-eval" not in policy and "unsafe-inline" not in policy


@pytest.mark.django_db
def test_the_page_carries_the_asset_layers_and_the_budget_control(force_planner: User) -> None:
    client = Client()
    client.force_login(force_planner)

    html = client.get("/planner/").content.decode()

    config = config_of(html)
    for layer in ("streetlights", "cameras", "coverage-gaps", "interventions"):
        assert config["tiles"][layer] == f"/tiles/{layer}/{{z}}/{{x}}/{{y}}.mvt"
        assert f'data-layer="{layer}"' in html
    assert config["api"]["priorities"] == "/api/v1/priorities"
    assert [(n["code"], n["radius"]) for n in config["needs"]] == [("lighting", 25), ("cctv", 50)]
    assert {n["code"]: n["unit_cost"] for n in config["needs"]} == {
        "lighting": 2500,
        "cctv": 15000,
    }
    assert [kind["code"] for kind in config["camera_kinds"]] == [
        "public_space",
        "traffic",
        "private",
    ]
    for control in ("budget-form", "budget-intervention", "budget-amount", "unit-cost", "reach"):
        assert f'id="{control}"' in html


@pytest.mark.django_db
def test_a_basemap_setting_reaches_the_page_and_its_policy(
    force_planner: User, settings: SettingsWrapper
) -> None:
    settings.PLANNER_BASEMAP_URL = "https://tiles.example.org/{z}/{x}/{y}.png"
    client = Client()
    client.force_login(force_planner)

    response = client.get("/planner/")

    assert config_of(response.content.decode())["basemap"] == settings.PLANNER_BASEMAP_URL
    assert "connect-src 'self' https://tiles.example.org" in response["Content-Security-Policy"]


def test_maplibre_and_the_map_script_are_served_as_static_files() -> None:
    status, body = static_get(f"/static/{MAPLIBRE_JS}")
    assert status == 200
    assert b"maplibre" in body[:2000].lower()
    assert static_get(f"/static/{MAPLIBRE_WORKER}")[0] == 200
    assert static_get("/static/maplibre-gl/maplibre-gl.css")[0] == 200
    status, body = static_get("/static/geo/planner.js")
    assert status == 200
    assert b"window.plannerMap" in body
    assert static_get("/static/maplibre-gl/not-there.js")[0] == 404


# --------------------------------------------------------------------------------------
# In a browser
# --------------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # WebGL on the CPU: headless machines have no GPU.
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
]

# The distinct hotspot cells drawn on screen with their counts (a cell cut by a tile edge
# comes twice), as "resolution:i:j:reports".
RENDERED_CELLS = """() => {
    const map = window.plannerMap;
    const seen = new Set();
    for (const f of map.queryRenderedFeatures({layers: ['hotspots-fill']})) {
        const p = f.properties;
        seen.add(`${p.resolution}:${p.i}:${p.j}:${p.reports}`);
    }
    return [...seen].sort();
}"""

IDLE = """() => new Promise((resolve) => {
    const map = window.plannerMap;
    if (map.loaded() && map.areTilesLoaded() && !map.isMoving()) resolve(true);
    else map.once('idle', () => resolve(true));
})"""

# The screen point of the middle of the drawn cell with the most reports.
A_CELL_ON_SCREEN = """() => {
    const map = window.plannerMap;
    const cells = map.queryRenderedFeatures({layers: ['hotspots-fill']});
    const cell = cells.reduce((a, b) => (b.properties.reports > a.properties.reports ? b : a));
    const ring = cell.geometry.type === 'Polygon'
        ? cell.geometry.coordinates[0] : cell.geometry.coordinates[0][0];
    const points = ring.slice(0, -1);
    const lng = points.reduce((s, p) => s + p[0], 0) / points.length;
    const lat = points.reduce((s, p) => s + p[1], 0) / points.length;
    const at = map.project([lng, lat]);
    const box = map.getCanvas().getBoundingClientRect();
    return {x: box.left + at.x, y: box.top + at.y, reports: cell.properties.reports};
}"""


# The screen point of a drawn place: its centroid, or the middle of its hull.
A_PLACE_ON_SCREEN = """() => {
    const map = window.plannerMap;
    const found = map.queryRenderedFeatures({layers: ['places-point', 'places-hull']});
    const place = found[0];
    const points = place.geometry.type === 'Point'
        ? [place.geometry.coordinates] : place.geometry.coordinates[0].slice(0, -1);
    const lng = points.reduce((s, p) => s + p[0], 0) / points.length;
    const lat = points.reduce((s, p) => s + p[1], 0) / points.length;
    const at = map.project([lng, lat]);
    const box = map.getCanvas().getBoundingClientRect();
    return {x: box.left + at.x, y: box.top + at.y};
}"""


@pytest.fixture
def chromium(map_planner: User) -> Iterator[Any]:
    """The browser, started after every fixture that writes to the database: Playwright's
    sync API runs an event loop in this thread, where Django then refuses the ORM."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def worcester_reports(west_mercia: None, settings: SettingsWrapper) -> None:
    """Two kinds of report a kilometre and a half apart in Worcester, rebuilt once.

    80 about poor lighting, felt by day, around Angel Street (20 of them in a knot, a place);
    40 about being followed, felt at night, east of it. A filter on either reason or band
    leaves one group only.
    """
    use_coarse_grids(settings)
    prime_study_cache()
    by_day = datetime(2026, 1, 14, 12, 0, tzinfo=UTC)
    at_night = datetime(2026, 1, 14, 1, 30, tzinfo=UTC)
    reports_around(
        WORCESTER, count=60, spread_m=350, seed=1, reasons=("poor_lighting",), felt_at=by_day
    )
    # A knot of them that DBSCAN makes a place.
    reports_around(
        WORCESTER, count=20, spread_m=15, seed=3, reasons=("poor_lighting",), felt_at=by_day
    )
    east = (WORCESTER[0] + 0.022, WORCESTER[1])
    reports_around(east, count=40, spread_m=250, seed=2, reasons=("followed",), felt_at=at_night)
    hotspots_rebuild()


@pytest.fixture
def map_planner(worcester_reports: None, settings: SettingsWrapper, tmp_path: Path) -> User:
    """A planner of the force, with cookies that plain http on the live server can carry."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.SECURE_SSL_REDIRECT = False
    settings.EXPORTS_DIR = tmp_path / "exports"
    police = organisation_make("West Mercia Police", FORCE_CODE)
    return planner_make("map-planner", police)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_planner_signs_in_sees_hotspots_filters_them_and_reads_a_cell(
    live_server: Any, map_planner: User, chromium: Any
) -> None:
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    statics: dict[str, int] = {}
    page.on(
        "response",
        lambda response: (
            statics.__setitem__(response.url, response.status)
            if "/static/" in response.url
            else None
        ),
    )
    page.set_default_timeout(30_000)

    # Signing in through the form brings the planner back to the map.
    page.goto(f"{live_server.url}/planner/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", map_planner.username)
    page.fill("#id_password", PLANNER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/planner/")
    page.wait_for_function("() => window.plannerMap && window.plannerMap.loaded()")
    assert statics[f"{live_server.url}/static/{MAPLIBRE_JS}"] == 200
    assert statics[f"{live_server.url}/static/{MAPLIBRE_WORKER}"] == 200

    # The area picker lists the force's policing areas and zooms to the one chosen.
    page.wait_for_selector("#area-picker option[value='wm-south-worcestershire']", state="attached")
    page.select_option("#area-picker", "wm-south-worcestershire")
    page.evaluate(IDLE)
    # Closer in on Worcester, where the reports are.
    page.evaluate(
        "([lng, lat]) => window.plannerMap.jumpTo({center: [lng + 0.011, lat], zoom: 13})",
        list(WORCESTER),
    )
    page.wait_for_function(f"() => ({RENDERED_CELLS})().length > 0")
    page.evaluate(IDLE)
    everything = page.evaluate(RENDERED_CELLS)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "planner-map-all.png"))

    # Only reports about being followed: the poor-lighting cells go.
    page.check("#reasons input[value='followed']")
    page.wait_for_function(
        f"(before) => {{ const now = ({RENDERED_CELLS})();"
        " return now.length > 0 && JSON.stringify(now) !== JSON.stringify(before); }",
        arg=everything,
    )
    page.evaluate(IDLE)
    followed = page.evaluate(RENDERED_CELLS)
    assert 0 < len(followed) < len(everything)
    assert sum(int(cell.rsplit(":", 1)[1]) for cell in followed) == 40
    assert sum(int(cell.rsplit(":", 1)[1]) for cell in everything) == 120

    # A click on a cell shows its counts by reason and by time felt.
    cell = page.evaluate(A_CELL_ON_SCREEN)
    page.mouse.click(cell["x"], cell["y"])
    assert cell["reports"] > 0
    page.wait_for_selector("#details [data-field=reason-counts] table")
    details = page.inner_text("#details")
    assert f"{cell['reports']} ({cell['reports']} unsafe, 0 safe)" in details
    assert "Being followed, now or before" in details
    assert "Dark or badly lit" not in details
    assert "Night (23:00 to 07:00)" in page.inner_text("#details [data-field=band-counts]")

    page.screenshot(path=str(ARTIFACTS / "planner-map.png"))

    # A click on the place shows the reports inside it by reason and time felt.
    place = page.evaluate(A_PLACE_ON_SCREEN)
    page.mouse.click(place["x"], place["y"])
    page.wait_for_selector("#details [data-field=inside]")
    details = page.inner_text("#details")
    assert "Dark or badly lit" in page.inner_text("#details [data-field=reason-counts]")
    assert "Day (07:00 to 19:00)" in page.inner_text("#details [data-field=band-counts]")
    inside = page.inner_text("#details [data-field=inside]")
    assert int(inside.split()[0]) >= 20, details

    # The hotspots as filtered, exported as CSV (small enough to be written at once).
    page.click("button[data-export-layer=hotspots][data-export-format=csv]")
    link = page.wait_for_selector("#export-jobs a[download]")
    download = page.request.get(link.get_attribute("href"))
    assert download.status == 200
    lines = download.text().splitlines()
    assert "reports" in lines[0]
    assert len(lines) > 1
    assert problems == []


@pytest.mark.django_db
def test_the_page_costs_three_queries_once_the_scope_is_cached(
    force_planner: User, django_assert_num_queries: DjangoAssertNumQueries
) -> None:
    client = Client()
    client.force_login(force_planner)
    client.get("/planner/")  # caches the organisation's areas

    # 1. The session. 2. The user. 3. The planner's organisation (the areas are cached).
    with django_assert_num_queries(3):
        assert client.get("/planner/").status_code == 200


# --------------------------------------------------------------------------------------
# Street assets, coverage gaps and the budget control, in a browser
# --------------------------------------------------------------------------------------

# The distinct features drawn of a layer, as their properties (a feature cut by a tile edge
# comes twice: deduplicated by the given keys).
RENDERED = """([layer, keys]) => {
    const seen = new Map();
    for (const f of window.plannerMap.queryRenderedFeatures({layers: [layer]})) {
        seen.set(keys.map((k) => f.properties[k]).join(':'), f.properties);
    }
    return [...seen.values()];
}"""


@pytest.fixture
def worcester_assets(map_planner: User) -> dict[str, Any]:
    """Street lights and cameras among the Worcester reports (made before the browser
    starts), and what the coverage rule itself says is left uncovered.

    Twelve lights on a line through the knot of poor-lighting reports, every third one
    faulty; a public-space camera among the reports of being followed, a traffic camera
    beside it and a private one in the middle of town.
    """
    from django.db import connection

    from geo.coverage import Need, uncovered_demand_sql
    from geo.models import Camera
    from tests.geo.asset_factories import camera_at, light_at

    lights = [
        light_at((WORCESTER[0] - 0.0022 + 0.0004 * k, WORCESTER[1]), working=k % 3 != 2)
        for k in range(12)
    ]
    east = (WORCESTER[0] + 0.022, WORCESTER[1])
    camera_at(east, kind=Camera.Kind.PUBLIC_SPACE)
    camera_at((east[0] + 0.003, east[1] + 0.001), kind=Camera.Kind.TRAFFIC)
    camera_at((WORCESTER[0], WORCESTER[1] + 0.002), kind=Camera.Kind.PRIVATE, working=False)
    uncovered = {}
    for need in Need:
        condition, params = uncovered_demand_sql(need)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM reports_report r WHERE {condition}", params)
            uncovered[need.value] = int(cursor.fetchone()[0])
    return {
        "lights": len(lights),
        "faulty": sum(not light.working for light in lights),
        **uncovered,
    }


@pytest.fixture
def priorities_worker(worcester_assets: dict[str, Any], settings: SettingsWrapper) -> Iterator[str]:
    """A real Celery worker for queued priority runs, started before the browser."""
    import geo.tasks  # noqa: F401 - the worker must know the task
    from tests.support.celery import celery_worker_queue

    with celery_worker_queue("test-planner-priorities") as queue:
        settings.PRIORITIES_QUEUE = queue
        yield queue


def sign_in(page: Any, live_server: Any, planner: User) -> None:
    page.goto(f"{live_server.url}/planner/")
    page.fill("#id_username", planner.username)
    page.fill("#id_password", PLANNER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/planner/")
    page.wait_for_function("() => window.plannerMap && window.plannerMap.loaded()")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_planner_sees_assets_and_gaps_and_spends_a_budget_on_numbered_sites(
    live_server: Any,
    map_planner: User,
    worcester_assets: dict[str, Any],
    priorities_worker: str,
    settings: SettingsWrapper,
    chromium: Any,
) -> None:
    page = chromium.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}") if message.type == "error" else None
        ),
    )
    runs: list[str] = []
    page.on(
        "response",
        lambda response: runs.append(response.url) if "/priorities/runs/" in response.url else None,
    )
    page.set_default_timeout(30_000)
    sign_in(page, live_server, map_planner)
    page.wait_for_selector("#area-picker option[value='wm-south-worcestershire']", state="attached")
    # Worcester, with the reports of being followed 1.5 km east in view too.
    page.evaluate(
        "([lng, lat]) => window.plannerMap.jumpTo({center: [lng + 0.011, lat], zoom: 14})",
        list(WORCESTER),
    )
    page.evaluate(IDLE)

    # Street lights: each one, working and faulty told apart.
    page.check("input[data-layer=streetlights]")
    page.wait_for_function(f"() => ({RENDERED})(['streetlights-point', ['id']]).length > 0")
    page.evaluate(IDLE)
    lights = page.evaluate(RENDERED, ["streetlights-point", ["id"]])
    assert len(lights) == worcester_assets["lights"]
    assert sum(not light["working"] for light in lights) == worcester_assets["faulty"]
    colours = page.evaluate(
        "() => window.plannerMap.getPaintProperty('streetlights-point', 'circle-color')"
    )
    assert "working" in json.dumps(colours)

    # Cameras, by kind; the lights go when unticked.
    page.check("input[data-layer=cameras]")
    page.wait_for_function(f"() => ({RENDERED})(['cameras-point', ['id']]).length === 3")
    cameras = page.evaluate(RENDERED, ["cameras-point", ["id"]])
    assert sorted(camera["kind"] for camera in cameras) == ["private", "public_space", "traffic"]
    page.uncheck("input[data-layer=streetlights]")
    page.evaluate(IDLE)
    assert page.evaluate(RENDERED, ["streetlights-point", ["id"]]) == []

    # Coverage gaps for lighting, then for CCTV: the reports no working asset covers.
    page.check("input[data-layer=coverage-gaps]")
    gap_sum = (
        f"() => ({RENDERED})(['coverage-gaps-fill', ['i', 'j']])"
        ".reduce((s, p) => s + p.uncovered_reports, 0)"
    )
    page.wait_for_function(f"() => ({gap_sum})() > 0")
    page.evaluate(IDLE)
    assert page.evaluate(gap_sum) == worcester_assets["lighting"]
    page.select_option("#gap-intervention", "cctv")
    page.wait_for_function(f"(n) => ({gap_sum})() === n", arg=worcester_assets["cctv"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "planner-map-assets.png"))

    # Three new lights for £7,500 at £2,500 each, answered at once: numbered in order.
    page.select_option("#budget-intervention", "lighting")
    page.fill("#budget-amount", "7500")
    page.fill("#unit-cost", "2500")
    page.click("#budget-run")
    page.wait_for_selector("#sites li >> nth=2")
    ranks = page.eval_on_selector_all(".site-marker", "nodes => nodes.map((n) => n.textContent)")
    assert sorted(ranks, key=int) == ["1", "2", "3"]
    items = page.eval_on_selector_all(
        "#sites li",
        "nodes => nodes.map((n) =>"
        " [n.dataset.rank, n.querySelector('[data-field=gain]').textContent])",
    )
    assert [rank for rank, _ in items] == ["1", "2", "3"]
    gains = [float(text.split()[0].lstrip("+")) for _, text in items]
    assert gains[0] > 0
    # Greedy: each site adds no more than the one before it.
    assert gains == sorted(gains, reverse=True)
    summary = page.inner_text("#budget-summary")
    assert "3 sites for £7,500 of £7,500" in summary
    # A marker's popup gives its marginal gain.
    page.click(".site-marker[data-rank='1']")
    popup = page.wait_for_selector(".maplibregl-popup .site-popup[data-rank='1']")
    assert f"{gains[0]:.1f} weighted" in popup.inner_text()
    page.screenshot(path=str(ARTIFACTS / "planner-map-sites.png"))
    csv = page.request.get(page.get_attribute("#sites-csv", "href"))
    assert csv.status == 200
    assert len(csv.text().strip().splitlines()) == 1 + 3
    assert runs == []

    # A large question goes to a worker: progress, then the sites.
    settings.PRIORITIES_INLINE_REPORTS = 0
    page.select_option("#budget-intervention", "cctv")
    page.fill("#budget-amount", "30000")
    page.fill("#unit-cost", "15000")
    page.click("#budget-run")
    page.wait_for_function(
        "() => document.querySelectorAll('#sites li').length === 2"
        " && !document.querySelector('#budget-run').disabled"
    )
    assert any(url.rstrip("/").split("/")[-1].isdigit() for url in runs)
    assert page.eval_on_selector_all(".site-marker", "nodes => nodes.length") == 2

    # The chosen area's evidence pack, for the budget in the form, as a page and as PDF.
    assert page.is_hidden("#evidence-links")
    page.select_option("#area-picker", "wm-south-worcestershire")
    page.wait_for_selector("#evidence-links", state="visible")
    html_href = page.eval_on_selector("#evidence-html", "a => a.href")
    assert "/areas/wm-south-worcestershire/evidence?budget=30000" in html_href
    pack = page.request.get(html_href)
    assert pack.status == 200 and "Evidence pack: South Worcestershire" in pack.text()
    pdf = page.request.get(page.eval_on_selector("#evidence-pdf", "a => a.href"))
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
    assert problems == []
