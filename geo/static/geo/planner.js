// The planner map: MapLibre GL JS over the planner's vector tiles, with filters, details on
// click, an area picker, exports, the street assets and the gaps in what they cover, and a
// budget control that asks where new lights or cameras would do the most good. Plain JS
// module, no build step; MapLibre's CSP build is loaded before it as a classic script
// (window.maplibregl).
//
// Quick with a million reports behind it: every layer is a vector tile source drawn by the
// GPU (never GeoJSON of all features, never a DOM node per feature); a filter change only
// swaps the sources' tile URLs, once, after the planner stops clicking; the hotspot class
// filter runs on the client and fetches nothing. Details of one cell or place come from the
// GeoJSON API for a tiny box around the click.

const config = JSON.parse(document.getElementById("planner-config").textContent);
const maplibregl = window.maplibregl;

const FILTER_DEBOUNCE_MS = 300;
const EXPORT_POLL_MS = 1500;
const PRIORITY_POLL_MS = 1000;
// Chosen sites beyond this many are drawn as plain circles, without a numbered marker (a
// marker is a DOM node); the list still numbers them all.
const MAX_NUMBERED_SITES = 200;
// Coverage gaps are worked out from every report in a tile: not asked for further out.
const COVERAGE_GAPS_MIN_ZOOM = 10;
// West Mercia, until the planner's own areas arrive.
const START_BOUNDS = [[-3.24, 51.82], [-1.75, 52.99]];

// Which filters each layer's tiles read (the rest would only change the URL and refetch).
const TILE_PARAMS = {
  hotspots: ["reasons", "time_band", "since", "until", "area"],
  places: ["area"],
  reports: ["reasons", "time_band", "since", "until", "area"],
  streetlights: ["area"],
  cameras: ["area"],
  "coverage-gaps": ["area", "intervention"],
  interventions: ["area"],
};
const TILE_LAYERS = Object.keys(TILE_PARAMS);

const GI_COLOURS = [
  "match", ["to-number", ["get", "gi_class"], 0],
  3, "#b2182b",
  2, "#ef8a62",
  1, "#fddbc7",
  -1, "#d1e5f0",
  -2, "#67a9cf",
  -3, "#2166ac",
  "#c7ccd1",
];
const CLASS_LABELS = Object.fromEntries(config.classes.map((c) => [String(c.code), c.label]));
const NEEDS = Object.fromEntries(config.needs.map((n) => [n.code, n]));
const CAMERA_KIND_LABELS = Object.fromEntries(config.camera_kinds.map((k) => [k.code, k.label]));
const INTERVENTION_KIND_LABELS = Object.fromEntries(config.intervention_kinds.map((k) => [k.code, k.label]));
const CSS = getComputedStyle(document.documentElement);
const colour = (name) => CSS.getPropertyValue(name).trim();
const REASON_LABELS = Object.fromEntries(config.reasons.map((r) => [r.code, r.label]));
const BAND_LABELS = Object.fromEntries(config.bands.map((b) => [b.code, b.label]));
const TREND_LABELS = {
  rising: "Rising",
  falling: "Falling",
  steady: "No clear trend",
  none: "No clear trend",
  "": "No trend yet (too few months)",
};

const $ = (selector) => document.querySelector(selector);
const csrfToken = () => $("#csrf input[name=csrfmiddlewaretoken]").value;
// Not new URL(): it would escape the braces of a {z}/{x}/{y} template.
const absolute = (path) => (path.startsWith("/") ? window.location.origin + path : path);

// A DOM element from a tag, attributes and children (strings become text, never HTML).
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "style") Object.assign(node.style, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setStatus(text, { error = false } = {}) {
  const status = $("#status");
  status.textContent = text;
  status.classList.toggle("error", error);
}

async function getJSON(path, params) {
  const url = new URL(path, window.location.href);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== "" && value !== undefined && value !== null) url.searchParams.set(name, value);
  }
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try {
      detail = (await response.json()).detail || detail;
    } catch {
      // Not JSON: the status line says enough.
    }
    throw new Error(detail);
  }
  return response.json();
}

// ---------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------

// The tile URL each source has now, so that an unchanged layer is not fetched again.
const appliedTiles = {};

const state = {
  areas: [],
  areaCode: "",
  lastClick: null,
};

function readFilters() {
  const reasons = [...document.querySelectorAll("#reasons input:checked")].map((i) => i.value);
  const since = $("#since").value;
  const until = $("#until").value;
  return {
    reasons: reasons.join(","),
    time_band: $("#time-band").value,
    since,
    until,
    area: $("#area-only").checked ? state.areaCode : "",
    class: $("#gi-class").value,
    intervention: $("#gap-intervention").value,
  };
}

function filtersProblem(filters) {
  if (filters.since && filters.until && filters.since > filters.until) {
    return "The From date must not be after the To date.";
  }
  return null;
}

function pick(filters, names) {
  const chosen = {};
  for (const name of names) if (filters[name]) chosen[name] = filters[name];
  return chosen;
}

function tileUrl(layer, filters) {
  const query = new URLSearchParams(pick(filters, TILE_PARAMS[layer])).toString();
  return absolute(config.tiles[layer]) + (query ? `?${query}` : "");
}

// Cells without reports that are not significant either are only the ground Gi* is
// measured on: not drawn. The class filter needs no new tiles: every cell has gi_class.
const GI = ["to-number", ["get", "gi_class"], 0];
const SHOWN = ["any", [">", ["to-number", ["get", "reports"], 0], 0], ["!=", GI, 0]];

function classFilter(value) {
  if (value === "hot") return ["all", SHOWN, [">", GI, 0]];
  if (value === "cold") return ["all", SHOWN, ["<", GI, 0]];
  if (value) return ["all", SHOWN, ["==", GI, Number(value)]];
  return SHOWN;
}

// ---------------------------------------------------------------------------------------
// The map
// ---------------------------------------------------------------------------------------

function startStyle() {
  const style = {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#eef0f2" } }],
  };
  const basemap = config.basemap;
  if (basemap && !/\.json($|\?)/.test(basemap)) {
    style.sources.basemap = { type: "raster", tiles: [basemap], tileSize: 256 };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap", paint: { "raster-opacity": 0.8 } });
  }
  return style;
}

maplibregl.setWorkerUrl(absolute(config.worker));
const map = new maplibregl.Map({
  container: "map",
  style: config.basemap && /\.json($|\?)/.test(config.basemap) ? config.basemap : startStyle(),
  bounds: START_BOUNDS,
  fitBoundsOptions: { padding: 20 },
  attributionControl: { compact: true },
  maxZoom: 19,
});
// The browser test and the console reach the map here.
window.plannerMap = map;
map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");

const INTERACTIVE = [
  "places-hull",
  "places-point",
  "reports-point",
  "streetlights-point",
  "cameras-point",
  "interventions-point",
  "coverage-gaps-fill",
  "hotspots-fill",
];

const EMPTY = { type: "FeatureCollection", features: [] };
// Counted features (far out) carry a count; single ones an id.
const COUNTED = ["has", "count"];
const SIZE_BY_COUNT = (small, large) => ["interpolate", ["linear"], ["sqrt", ["to-number", ["get", "count"], 1]], 1, small, 40, large];

function addLayers(filters) {
  map.addSource("service-area", { type: "geojson", data: EMPTY });
  map.addSource("selection", { type: "geojson", data: EMPTY });
  map.addSource("sites", { type: "geojson", data: EMPTY });
  for (const layer of TILE_LAYERS) {
    map.addSource(layer, {
      type: "vector",
      tiles: [tileUrl(layer, filters)],
      minzoom: layer === "coverage-gaps" ? COVERAGE_GAPS_MIN_ZOOM : 0,
      maxzoom: 16,
      attribution: layer === "hotspots" ? "StreetSafe reports" : undefined,
    });
  }
  map.addLayer({
    id: "service-area-fill",
    type: "fill",
    source: "service-area",
    paint: { "fill-color": "#ffffff", "fill-opacity": 0.7 },
  });
  map.addLayer({
    id: "hotspots-fill",
    type: "fill",
    source: "hotspots",
    "source-layer": "hotspots",
    filter: SHOWN,
    paint: {
      "fill-color": GI_COLOURS,
      "fill-opacity": ["case", ["==", ["to-number", ["get", "gi_class"], 0], 0], 0.35, 0.75],
    },
  });
  map.addLayer({
    id: "hotspots-line",
    type: "line",
    source: "hotspots",
    "source-layer": "hotspots",
    filter: SHOWN,
    minzoom: 12,
    paint: { "line-color": "#ffffff", "line-width": 0.6, "line-opacity": 0.8 },
  });
  map.addLayer({
    id: "coverage-gaps-fill",
    type: "fill",
    source: "coverage-gaps",
    "source-layer": "coverage-gaps",
    layout: { visibility: "none" },
    paint: {
      "fill-color": [
        "interpolate", ["linear"], ["to-number", ["get", "uncovered"], 0],
        0, "#edf8b1", 4, "#7fcdbb", 16, "#2c7fb8", 64, "#253494",
      ],
      "fill-opacity": 0.8,
    },
  });
  map.addLayer({
    id: "coverage-gaps-line",
    type: "line",
    source: "coverage-gaps",
    "source-layer": "coverage-gaps",
    layout: { visibility: "none" },
    minzoom: 13,
    paint: { "line-color": "#253494", "line-width": 0.5, "line-opacity": 0.6 },
  });
  map.addLayer({
    id: "service-area-line",
    type: "line",
    source: "service-area",
    paint: { "line-color": "#52606d", "line-width": 1.5 },
  });
  map.addLayer({
    id: "places-hull",
    type: "fill",
    source: "places",
    "source-layer": "places",
    filter: ["==", ["geometry-type"], "Polygon"],
    paint: { "fill-color": "#6a3d9a", "fill-opacity": 0.15, "fill-outline-color": "#6a3d9a" },
  });
  map.addLayer({
    id: "places-point",
    type: "circle",
    source: "places",
    "source-layer": "places",
    filter: ["==", ["geometry-type"], "Point"],
    paint: {
      "circle-color": "#6a3d9a",
      "circle-opacity": 0.85,
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 1.5,
      "circle-radius": ["interpolate", ["linear"], ["sqrt", ["to-number", ["get", "report_count"], 1]], 1, 5, 30, 18],
    },
  });
  map.addLayer({
    id: "reports-point",
    type: "circle",
    source: "reports",
    "source-layer": "reports",
    layout: { visibility: "none" },
    paint: {
      "circle-color": ["match", ["get", "feeling"], "safe", "#1a9850", "#7a0177"],
      "circle-opacity": 0.7,
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 0.5,
      // Aggregated at low zoom: a count per feature. The zoom must lead the expression.
      "circle-radius": [
        "interpolate", ["linear"], ["zoom"],
        10, ["case", ["has", "count"], ["interpolate", ["linear"], ["sqrt", ["to-number", ["get", "count"], 1]], 1, 2.5, 40, 14], 2],
        16, ["case", ["has", "count"], ["interpolate", ["linear"], ["sqrt", ["to-number", ["get", "count"], 1]], 1, 3, 40, 16], 5],
      ],
    },
  });
  // Street lights: amber if working, dark with a red ring if not; far out, a circle per
  // cell sized by its count, ringed red where any is faulty.
  map.addLayer({
    id: "streetlights-point",
    type: "circle",
    source: "streetlights",
    "source-layer": "streetlights",
    layout: { visibility: "none" },
    paint: {
      "circle-color": ["case", COUNTED, colour("--light-working"), ["boolean", ["get", "working"], true], colour("--light-working"), colour("--light-faulty")],
      "circle-opacity": ["case", COUNTED, 0.6, 0.95],
      "circle-stroke-color": [
        "case",
        COUNTED, ["case", [">", ["to-number", ["get", "faulty"], 0], 0], colour("--faulty-ring"), "#ffffff"],
        ["boolean", ["get", "working"], true], "#ffffff",
        colour("--faulty-ring"),
      ],
      "circle-stroke-width": ["case", COUNTED, 1, ["boolean", ["get", "working"], true], 0.8, 1.8],
      "circle-radius": [
        "interpolate", ["linear"], ["zoom"],
        10, ["case", COUNTED, SIZE_BY_COUNT(2, 12), 2],
        18, ["case", COUNTED, SIZE_BY_COUNT(3, 16), 6],
      ],
    },
  });
  // Cameras by kind; a camera that does not work is faded and ringed red.
  map.addLayer({
    id: "cameras-point",
    type: "circle",
    source: "cameras",
    "source-layer": "cameras",
    layout: { visibility: "none" },
    paint: {
      "circle-color": [
        "case", COUNTED, colour("--camera-public"),
        ["match", ["get", "kind"], "traffic", colour("--camera-traffic"), "private", colour("--camera-private"), colour("--camera-public")],
      ],
      "circle-opacity": ["case", COUNTED, 0.6, ["boolean", ["get", "working"], true], 0.95, 0.45],
      "circle-stroke-color": ["case", COUNTED, "#ffffff", ["boolean", ["get", "working"], true], "#ffffff", colour("--faulty-ring")],
      "circle-stroke-width": 1.5,
      "circle-radius": [
        "interpolate", ["linear"], ["zoom"],
        10, ["case", COUNTED, SIZE_BY_COUNT(3, 12), 3.5],
        18, ["case", COUNTED, SIZE_BY_COUNT(4, 16), 8],
      ],
    },
  });
  // Interventions: filled once done, hollow while planned (a date still to come).
  map.addLayer({
    id: "interventions-point",
    type: "circle",
    source: "interventions",
    "source-layer": "interventions",
    layout: { visibility: "none" },
    paint: {
      "circle-color": ["case", [">", ["get", "date"], todayText()], "#ffffff", "#6a3d9a"],
      "circle-stroke-color": "#6a3d9a",
      "circle-stroke-width": 2.5,
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 4, 18, 9],
    },
  });
  map.addLayer({
    id: "selection-line",
    type: "line",
    source: "selection",
    paint: { "line-color": "#111111", "line-width": 2.5 },
  });
  // Each chosen site's reach, under its numbered marker.
  map.addLayer({
    id: "sites-circle",
    type: "circle",
    source: "sites",
    paint: {
      "circle-color": colour("--site"),
      "circle-opacity": 0.25,
      "circle-stroke-color": colour("--site"),
      "circle-stroke-width": 2,
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 4, 18, 14],
    },
  });
}

function todayText() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

map.on("load", () => {
  const filters = readFilters();
  addLayers(filters);
  for (const layer of TILE_LAYERS) appliedTiles[layer] = tileUrl(layer, filters);
  applyLayerToggles();
  applyClassFilter(filters.class);
  loadServiceArea();
  loadAreas();
});

map.on("dataloading", () => setStatus("Loading…"));
map.on("idle", () => {
  if (!$("#status").classList.contains("error")) setStatus("Up to date");
});
map.on("error", (event) => {
  const error = event.error || {};
  const status = error.status ? ` (${error.status})` : "";
  setStatus(`Some of the map could not be loaded${status}.`, { error: true });
  // The next successful redraw clears the message.
  map.once("idle", () => $("#status").classList.remove("error"));
  console.warn("map error", error);
});

async function loadServiceArea() {
  try {
    const body = await getJSON(config.api.config);
    const area = body.service_area;
    if (!area) return;
    map.getSource("service-area").setData({
      type: "Feature",
      properties: { name: area.name },
      geometry: area.polygon,
    });
  } catch (error) {
    console.warn("no service area outline", error);
  }
}

// ---------------------------------------------------------------------------------------
// Layer toggles and filters
// ---------------------------------------------------------------------------------------

const LAYER_GROUPS = {
  hotspots: ["hotspots-fill", "hotspots-line"],
  places: ["places-hull", "places-point"],
  reports: ["reports-point"],
  streetlights: ["streetlights-point"],
  cameras: ["cameras-point"],
  "coverage-gaps": ["coverage-gaps-fill", "coverage-gaps-line"],
  interventions: ["interventions-point"],
};

function applyLayerToggles() {
  for (const input of document.querySelectorAll("input[data-layer]")) {
    for (const id of LAYER_GROUPS[input.dataset.layer]) {
      if (map.getLayer(id)) map.setLayoutProperty(id, "visibility", input.checked ? "visible" : "none");
    }
  }
}

function applyClassFilter(value) {
  for (const id of LAYER_GROUPS.hotspots) map.setFilter(id, classFilter(value));
}

let debounce = null;

function applyFilters() {
  const filters = readFilters();
  const problem = filtersProblem(filters);
  if (problem) {
    setStatus(problem, { error: true });
    return;
  }
  for (const layer of TILE_LAYERS) {
    const url = tileUrl(layer, filters);
    if (appliedTiles[layer] === url) continue;
    appliedTiles[layer] = url;
    map.getSource(layer)?.setTiles([url]);
  }
  applyClassFilter(filters.class);
  clearDetails();
}

function filtersChanged() {
  clearTimeout(debounce);
  debounce = setTimeout(applyFilters, FILTER_DEBOUNCE_MS);
}

for (const input of document.querySelectorAll("#reasons input, #time-band, #since, #until, #gi-class, #area-only, #gap-intervention")) {
  input.addEventListener("change", filtersChanged);
}
for (const input of document.querySelectorAll("input[data-layer]")) {
  input.addEventListener("change", applyLayerToggles);
}
$("#clear-filters").addEventListener("click", () => {
  for (const input of document.querySelectorAll("#reasons input")) input.checked = false;
  for (const id of ["#time-band", "#since", "#until", "#gi-class"]) $(id).value = "";
  filtersChanged();
});

// ---------------------------------------------------------------------------------------
// The area picker
// ---------------------------------------------------------------------------------------

const KIND_LABELS = { force: "Police force areas", lpa: "Local policing areas", district: "Districts", ward: "Wards" };

async function loadAreas() {
  let areas;
  try {
    areas = await getJSON(config.api.areas);
  } catch (error) {
    console.warn("no areas", error);
    return;
  }
  state.areas = areas;
  const picker = $("#area-picker");
  const groups = {};
  for (const area of areas) {
    if (!groups[area.kind]) {
      groups[area.kind] = el("optgroup", { label: KIND_LABELS[area.kind] || area.kind });
      picker.append(groups[area.kind]);
    }
    groups[area.kind].append(el("option", { value: area.code }, area.name));
  }
  const box = unionBox(areas.map((a) => a.bbox));
  if (box) map.fitBounds(box, { padding: 20, duration: 0 });
}

function unionBox(boxes) {
  const valid = boxes.filter((b) => Array.isArray(b) && b.length === 4);
  if (!valid.length) return null;
  return [
    [Math.min(...valid.map((b) => b[0])), Math.min(...valid.map((b) => b[1]))],
    [Math.max(...valid.map((b) => b[2])), Math.max(...valid.map((b) => b[3]))],
  ];
}

// The evidence pack of the chosen area, for the budget in the budget form.
function updateEvidenceLinks() {
  const area = (state.areas || []).find((a) => a.code === state.areaCode);
  $("#evidence-links").hidden = !area;
  $("#evidence-hint").hidden = Boolean(area);
  if (!area) return;
  const query = new URLSearchParams();
  const amount = $("#budget-amount").value.trim();
  if (Number(amount) > 0) query.set("budget", amount);
  const base = `${config.api.areas}/${encodeURIComponent(area.code)}/evidence`;
  $("#evidence-area").textContent = area.name;
  $("#evidence-html").href = `${base}?${query}`;
  query.set("format", "pdf");
  $("#evidence-pdf").href = `${base}?${query}`;
}
$("#budget-amount").addEventListener("input", updateEvidenceLinks);

$("#area-picker").addEventListener("change", (event) => {
  state.areaCode = event.target.value;
  updateEvidenceLinks();
  const area = state.areas.find((a) => a.code === state.areaCode);
  const box = area ? unionBox([area.bbox]) : unionBox(state.areas.map((a) => a.bbox));
  if (box) map.fitBounds(box, { padding: 30 });
  if ($("#area-only").checked) filtersChanged();
});

// ---------------------------------------------------------------------------------------
// Details on click
// ---------------------------------------------------------------------------------------

function clearDetails() {
  $("#details").hidden = true;
  $("#details-body").replaceChildren();
  map.getSource("selection")?.setData({ type: "FeatureCollection", features: [] });
}
$("#details-close").addEventListener("click", clearDetails);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape") clearDetails();
});

function showDetails(...children) {
  $("#details-body").replaceChildren(...children);
  $("#details").hidden = false;
}

const number = (value) => (typeof value === "number" ? value.toLocaleString("en-GB") : value ?? "–");
const fixed = (value, digits) => (typeof value === "number" ? value.toFixed(digits) : "–");
const money = (value) =>
  typeof value === "number" ? value.toLocaleString("en-GB", { style: "currency", currency: "GBP", maximumFractionDigits: 0 }) : "–";
const reportsText = (n) => `${number(n)} ${n === 1 ? "report" : "reports"}`;
const percent = (share) => (typeof share === "number" ? `${(100 * share).toFixed(1)}%` : "–");

function countsTable(counts, labels) {
  const rows = Object.entries(counts || {}).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  if (!rows.length) return el("p", { class: "small" }, "None.");
  const most = rows[0][1];
  return el(
    "table",
    { class: "counts" },
    el(
      "tbody",
      {},
      rows.map(([code, n]) =>
        el(
          "tr",
          {},
          el("td", {}, labels[code] || code),
          el("td", { class: "n" }, number(n)),
          el("td", { class: "bar" }, el("span", { class: "fill", style: { width: `${(100 * n) / most}%` } })),
        ),
      ),
    ),
  );
}

function areaName(code) {
  return state.areas.find((a) => a.code === code)?.name || code;
}

function tinyBox(lngLat, half) {
  return [lngLat.lng - half, lngLat.lat - half, lngLat.lng + half, lngLat.lat + half].map((v) => v.toFixed(7)).join(",");
}

// Whether a GeoJSON (Multi)Polygon holds the point: ray casting, enough for a hexagon.
function holds(geometry, lngLat) {
  if (!geometry) return false;
  const polygons = geometry.type === "Polygon" ? [geometry.coordinates] : geometry.type === "MultiPolygon" ? geometry.coordinates : [];
  return polygons.some((rings) => {
    let inside = false;
    const ring = rings[0];
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i];
      const [xj, yj] = ring[j];
      if (yi > lngLat.lat !== yj > lngLat.lat && lngLat.lng < ((xj - xi) * (lngLat.lat - yi)) / (yj - yi) + xi) {
        inside = !inside;
      }
    }
    return inside;
  });
}

function hotspotSummary(p) {
  const gi = String(p.gi_class ?? 0);
  return [
    el("h3", {}, "Hotspot cell ", el("span", { class: `badge gi${gi}` }, CLASS_LABELS[gi] || `class ${gi}`)),
    el(
      "dl",
      {},
      el("dt", {}, "Cell"), el("dd", {}, `${p.resolution} m hexagon`),
      p.area ? [el("dt", {}, "Area"), el("dd", {}, areaName(p.area))] : null,
      el("dt", {}, "Reports"), el("dd", { "data-field": "reports" }, `${number(p.reports)} (${number(p.unsafe)} unsafe, ${number(p.safe)} safe)`),
      el("dt", {}, "Weighted score"), el("dd", {}, fixed(p.score, 1)),
      el("dt", {}, "Gi* z"), el("dd", {}, p.gi_p !== undefined ? `${fixed(p.gi_z, 2)} (p = ${fixed(p.gi_p, 3)})` : fixed(p.gi_z, 2)),
      el("dt", {}, "Trend"),
      el("dd", { "data-field": "trend" }, (TREND_LABELS[p.trend ?? ""] ?? p.trend) + (typeof p.trend_p === "number" ? ` (p = ${fixed(p.trend_p, 3)})` : "")),
    ),
  ];
}

async function showHotspot(feature, lngLat) {
  const p = feature.properties;
  map.getSource("selection").setData({ type: "Feature", properties: {}, geometry: feature.geometry });
  const reasons = el("div", { "data-field": "reason-counts" }, el("p", { class: "small" }, "Loading…"));
  const bands = el("div", { "data-field": "band-counts" });
  showDetails(...hotspotSummary(p), el("h4", {}, "By reason"), reasons, el("h4", {}, "By time felt"), bands);
  const filters = readFilters();
  let found;
  try {
    const body = await getJSON(config.api.hotspots, {
      ...pick(filters, ["reasons", "time_band", "since", "until", "area"]),
      resolution: p.resolution,
      in_bbox: tinyBox(lngLat, 0.00001),
    });
    const features = body.features || [];
    found =
      features.find((f) => f.properties.i === p.i && f.properties.j === p.j && p.i !== undefined) ||
      features.find((f) => holds(f.geometry, lngLat)) ||
      features[0];
  } catch (error) {
    reasons.replaceChildren(el("p", { class: "small" }, `Could not load the counts: ${error.message}`));
    return;
  }
  if (state.lastClick !== lngLat) return; // another click since
  if (!found) {
    reasons.replaceChildren(el("p", { class: "small" }, "No counts for this cell under these filters."));
    return;
  }
  const q = found.properties;
  showDetails(
    ...hotspotSummary({ ...p, ...q }),
    el("h4", {}, "By reason"),
    el("div", { "data-field": "reason-counts" }, countsTable(q.reason_counts, REASON_LABELS)),
    el("h4", {}, "By time felt"),
    el("div", { "data-field": "band-counts" }, countsTable(q.band_counts, BAND_LABELS)),
  );
}

function placeSummary(p) {
  const top = Array.isArray(p.top_reasons) ? p.top_reasons : String(p.top_reasons || "").split(",").filter(Boolean);
  return [
    el("h3", {}, p.label || "Place"),
    el(
      "dl",
      {},
      p.area ? [el("dt", {}, "Area"), el("dd", {}, areaName(p.area))] : null,
      el("dt", {}, "Reports"), el("dd", { "data-field": "reports" }, number(p.report_count)),
      el("dt", {}, "At night"), el("dd", {}, typeof p.night_share === "number" ? `${Math.round(100 * p.night_share)}%` : "–"),
      el("dt", {}, "Main reasons"), el("dd", {}, top.map((c) => REASON_LABELS[c] || c).join("; ") || "–"),
      p.trend !== undefined ? [el("dt", {}, "Trend"), el("dd", {}, TREND_LABELS[p.trend ?? ""] ?? p.trend)] : null,
    ),
  ];
}

async function showPlace(feature, lngLat) {
  const p = feature.properties;
  if (feature.geometry.type !== "Point") {
    map.getSource("selection").setData({ type: "Feature", properties: {}, geometry: feature.geometry });
  }
  showDetails(...placeSummary(p));
  let q;
  try {
    // The reports inside the place's hull, counted by reason, band and month.
    q = await getJSON(`${config.api.places}/${encodeURIComponent(p.id)}`, {});
  } catch (error) {
    console.warn("no place details", error);
    return;
  }
  if (state.lastClick !== lngLat) return; // another click since
  showDetails(
    ...placeSummary({ ...p, ...q, trend_p: q.trend_p }),
    el("dl", {}, el("dt", {}, "Inside it"), el("dd", { "data-field": "inside" }, `${number(q.unsafe)} unsafe, ${number(q.safe)} safe`)),
    el("h4", {}, "By reason"),
    el("div", { "data-field": "reason-counts" }, countsTable(q.by_reason, REASON_LABELS)),
    el("h4", {}, "By time felt"),
    el("div", { "data-field": "band-counts" }, countsTable(q.by_band, BAND_LABELS)),
  );
}

function showReport(feature) {
  const p = feature.properties;
  if (p.count !== undefined) {
    showDetails(el("h3", {}, `${number(p.count)} reports here`), el("p", { class: "small" }, "Zoom in to see each report."));
    return;
  }
  const reasons = Array.isArray(p.reasons) ? p.reasons : String(p.reasons || "").split(",").filter(Boolean);
  const severities = { 1: "Uneasy", 2: "Unsafe", 3: "Very unsafe" };
  showDetails(
    el("h3", {}, p.feeling === "safe" ? "Felt safe here" : "Felt unsafe here"),
    el(
      "dl",
      {},
      el("dt", {}, "How unsafe"), el("dd", {}, severities[p.severity] || "Not given"),
      el("dt", {}, "When"), el("dd", {}, BAND_LABELS[p.band] || p.band || "–"),
      el("dt", {}, "Reasons"), el("dd", {}, reasons.map((c) => REASON_LABELS[c] || c).join("; ") || "–"),
    ),
  );
}

function countedAssets(p, noun) {
  const faulty = Number(p.faulty || 0);
  return [
    el("h3", {}, `${number(p.count)} ${noun} here`),
    el("p", { "data-field": "asset-counts" }, `${number(p.working)} working, ${number(faulty)} not working.`),
    el("p", { class: "small" }, "Zoom in to see each one."),
  ];
}

function showLight(feature) {
  const p = feature.properties;
  if (p.count !== undefined) {
    showDetails(...countedAssets(p, "street lights"));
    return;
  }
  showDetails(
    el("h3", {}, p.label || "Street light"),
    el(
      "dl",
      {},
      el("dt", {}, "Working"), el("dd", { "data-field": "working" }, p.working ? "Yes" : "No: faulty, so it covers nothing"),
      el("dt", {}, "Lamp"), el("dd", {}, [p.lamp_type, p.wattage ? `${p.wattage} W` : null].filter(Boolean).join(", ") || "–"),
    ),
  );
}

function showCamera(feature) {
  const p = feature.properties;
  if (p.count !== undefined) {
    showDetails(...countedAssets(p, "cameras"));
    return;
  }
  showDetails(
    el("h3", {}, p.label || "Camera"),
    el(
      "dl",
      {},
      el("dt", {}, "Kind"), el("dd", { "data-field": "kind" }, CAMERA_KIND_LABELS[p.kind] || p.kind),
      el("dt", {}, "Working"), el("dd", {}, p.working ? "Yes" : "No"),
      el("dt", {}, "Range"), el("dd", {}, p.range_m ? `${p.range_m} m` : "Not known"),
    ),
    p.kind !== "public_space" ? el("p", { class: "small" }, "Only working public-space cameras count as CCTV cover.") : null,
  );
}

function showIntervention(feature) {
  const p = feature.properties;
  const planned = p.date > todayText();
  showDetails(
    el("h3", {}, INTERVENTION_KIND_LABELS[p.kind] || p.kind),
    el(
      "dl",
      {},
      el("dt", {}, planned ? "Planned for" : "Done on"), el("dd", { "data-field": "date" }, p.date),
      el("dt", {}, "Reports within"), el("dd", {}, `${number(p.radius_m)} m`),
      el("dt", {}, "Cost"), el("dd", {}, typeof p.cost === "number" ? money(p.cost) : "–"),
    ),
  );
}

function showGap(feature) {
  const p = feature.properties;
  const need = NEEDS[readFilters().intervention];
  map.getSource("selection").setData({ type: "Feature", properties: {}, geometry: feature.geometry });
  showDetails(
    el("h3", {}, `Coverage gap: ${need ? need.label.toLowerCase() : "lighting"}`),
    el(
      "dl",
      {},
      el("dt", {}, "Cell"), el("dd", {}, `${p.resolution} m hexagon`),
      el("dt", {}, "Not covered"), el("dd", { "data-field": "uncovered" }, `${reportsText(p.uncovered_reports)} (weighted ${fixed(p.uncovered, 1)})`),
      el("dt", {}, "Already covered"), el("dd", { "data-field": "covered" }, `${reportsText(p.covered_reports)} (weighted ${fixed(p.covered, 1)})`),
    ),
    el("p", { class: "small" }, need ? `Covered: a working ${need.code === "cctv" ? "public-space camera" : "street light"} within ${need.radius} m.` : null),
  );
}

map.on("click", (event) => {
  // A chosen site's marker opens its own popup (MapLibre hears it through this event).
  if (event.originalEvent?.target?.closest?.(".site-marker")) return;
  const layers = INTERACTIVE.filter((id) => map.getLayer(id) && map.getLayoutProperty(id, "visibility") !== "none");
  const features = map.queryRenderedFeatures(event.point, { layers });
  state.lastClick = event.lngLat;
  const byLayer = (id) => features.find((f) => f.layer.id === id);
  const place = byLayer("places-point") || byLayer("places-hull");
  const report = byLayer("reports-point");
  const light = byLayer("streetlights-point");
  const camera = byLayer("cameras-point");
  const done = byLayer("interventions-point");
  const gap = byLayer("coverage-gaps-fill");
  const cell = byLayer("hotspots-fill");
  if (place) showPlace(place, event.lngLat);
  else if (report) showReport(report);
  else if (done) showIntervention(done);
  else if (camera) showCamera(camera);
  else if (light) showLight(light);
  else if (gap) showGap(gap);
  else if (cell) showHotspot(cell, event.lngLat);
  else clearDetails();
});

for (const id of INTERACTIVE) {
  map.on("mouseenter", id, () => {
    map.getCanvas().style.cursor = "pointer";
  });
  map.on("mouseleave", id, () => {
    map.getCanvas().style.cursor = "";
  });
}

// ---------------------------------------------------------------------------------------
// Exports
// ---------------------------------------------------------------------------------------

const EXPORT_PARAMS = {
  hotspots: ["reasons", "time_band", "since", "until", "area", "class"],
  places: ["area"],
  reports: ["reasons", "time_band", "since", "until", "area"],
};

function shownResolution() {
  const cell = map.queryRenderedFeatures({ layers: ["hotspots-fill"] })[0];
  return cell ? String(cell.properties.resolution) : "";
}

function exportLink(job) {
  return job.download_url || (job.id !== undefined ? `${config.api.exports}/${job.id}/download` : null);
}

async function startExport(button) {
  const layer = button.dataset.exportLayer;
  const format = button.dataset.exportFormat;
  const filters = readFilters();
  const problem = filtersProblem(filters);
  if (problem) {
    setStatus(problem, { error: true });
    return;
  }
  const chosen = pick(filters, EXPORT_PARAMS[layer]);
  if (layer === "hotspots" && shownResolution()) chosen.resolution = shownResolution();
  const item = el("li", {}, `${layer} as ${format.toUpperCase()}: starting…`);
  $("#export-jobs").prepend(item);
  button.disabled = true;
  try {
    const response = await fetch(absolute(config.api.exports), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ layer, format, filters: chosen }),
    });
    const body = await response.json().catch(() => ({}));
    if (response.status !== 201 && response.status !== 202) {
      throw new Error(body.detail || `${response.status} ${response.statusText}`);
    }
    await followExport(item, `${layer} as ${format.toUpperCase()}`, body);
  } catch (error) {
    item.className = "failed";
    item.replaceChildren(`${layer} as ${format.toUpperCase()}: ${error.message}`);
  } finally {
    button.disabled = false;
  }
}

async function followExport(item, name, job) {
  for (;;) {
    const status = job.status || "ready";
    if (status === "ready") {
      const link = exportLink(job);
      const rows = typeof job.row_count === "number" ? ` (${number(job.row_count)} rows)` : "";
      item.replaceChildren(`${name}${rows}: `, link ? el("a", { href: absolute(link), download: job.filename || "" }, "download") : "ready");
      return;
    }
    if (status === "failed" || status === "expired") {
      throw new Error(job.error || job.detail || "the export failed");
    }
    const progress = typeof job.progress === "number" ? job.progress : null;
    item.replaceChildren(
      `${name}: ${status}…`,
      progress !== null ? el("progress", { max: "1", value: String(progress) }) : null,
    );
    await new Promise((resolve) => setTimeout(resolve, EXPORT_POLL_MS));
    job = await getJSON(job.url || `${config.api.exports}/${job.id}`);
  }
}

for (const button of document.querySelectorAll("button[data-export-layer]")) {
  button.addEventListener("click", () => startExport(button));
}

// ---------------------------------------------------------------------------------------
// Where to spend a budget
// ---------------------------------------------------------------------------------------

// A JSON request whose status matters (200 answered, 202 queued): a 4xx names the faulty
// parameters from the API's `errors`.
async function requestJSON(path, params) {
  const url = new URL(path, window.location.href);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== "" && value !== undefined && value !== null) url.searchParams.set(name, value);
  }
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON: the status line says enough.
  }
  if (!response.ok) {
    const named = Object.entries(body?.errors || {})
      .map(([name, messages]) => `${name}: ${[].concat(messages).join(" ")}`)
      .join("; ");
    throw new Error(named || body?.detail || `${response.status} ${response.statusText}`);
  }
  return { status: response.status, body };
}

const budget = { asked: 0, markers: [], answer: null };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function budgetQuestion() {
  return {
    intervention: $("#budget-intervention").value,
    budget: $("#budget-amount").value.trim(),
    unit_cost: $("#unit-cost").value.trim(),
    radius: $("#reach").value.trim(),
    area: state.areaCode,
  };
}

function setBudgetStatus(children, { error = false } = {}) {
  const status = $("#budget-status");
  status.replaceChildren(...[].concat(children).filter((c) => c !== null && c !== undefined));
  status.classList.toggle("error", error);
}

function showBudgetDefaults() {
  const need = NEEDS[$("#budget-intervention").value];
  $("#unit-cost").placeholder = need && need.unit_cost ? `${need.unit_cost} (the usual cost)` : "";
  $("#reach").placeholder = need ? `${need.radius} (its coverage radius)` : "";
}
$("#budget-intervention").addEventListener("change", showBudgetDefaults);
showBudgetDefaults();

// Follows a queued run until its answer is ready, showing its progress; null if the
// planner has asked something else since.
async function followRun(run, asked) {
  let job = run;
  for (;;) {
    if (asked !== budget.asked) return null;
    if (job.status === "ready") {
      return (await requestJSON(job.result_url || `${job.url}/result`)).body;
    }
    if (job.status === "failed") throw new Error(job.error || "the run failed");
    const progress = typeof job.progress === "number" ? job.progress : 0;
    setBudgetStatus([
      el("span", { "data-field": "run-status" }, `Working it out (${job.status}, ${Math.round(100 * progress)}%)…`),
      el("progress", { max: "1", value: String(progress) }),
    ]);
    await sleep(PRIORITY_POLL_MS);
    job = (await requestJSON(job.url)).body;
  }
}

async function chooseSites(event) {
  event.preventDefault();
  const question = budgetQuestion();
  if (!(Number(question.budget) > 0)) {
    setBudgetStatus("Give a budget above £0.", { error: true });
    return;
  }
  const asked = ++budget.asked;
  const button = $("#budget-run");
  button.disabled = true;
  setBudgetStatus("Choosing sites…");
  try {
    const first = await requestJSON(config.api.priorities, question);
    const answer = first.status === 202 ? await followRun(first.body, asked) : first.body;
    if (answer === null || asked !== budget.asked) return;
    showSites(answer, question);
    setBudgetStatus("");
  } catch (error) {
    if (asked === budget.asked) setBudgetStatus(`Could not choose sites: ${error.message}`, { error: true });
  } finally {
    if (asked === budget.asked) button.disabled = false;
  }
}
$("#budget-form").addEventListener("submit", chooseSites);

function clearSites() {
  for (const marker of budget.markers) marker.remove();
  budget.markers = [];
  budget.answer = null;
  map.getSource("sites")?.setData(EMPTY);
  $("#sites").replaceChildren();
  $("#budget-result").hidden = true;
}
$("#sites-clear").addEventListener("click", () => {
  clearSites();
  setBudgetStatus("");
});

function reasonsText(reasons) {
  const rows = Object.entries(reasons || {}).sort((a, b) => b[1] - a[1]);
  return rows.map(([code, weight]) => `${REASON_LABELS[code] || code} (${fixed(weight, 1)})`).join("; ") || "–";
}

function sitePopup(p) {
  return el(
    "div",
    { class: "site-popup", "data-rank": p.rank },
    el("h3", {}, `Site ${p.rank}`),
    el(
      "dl",
      {},
      el("dt", {}, "Newly covers"), el("dd", { "data-field": "gain" }, `${fixed(p.gain, 1)} weighted (${reportsText(p.reports)})`),
      el("dt", {}, "Reasons"), el("dd", {}, reasonsText(p.reasons)),
      el("dt", {}, "Cost"), el("dd", {}, money(p.cost)),
      el("dt", {}, "So far"), el("dd", {}, `${money(p.total_cost)} for ${fixed(p.total_gain, 1)}: ${percent(p.share)} of the uncovered demand`),
      el("dt", {}, "Where"), el("dd", {}, p.source === "lamp_column" ? "On an existing lamp column" : "Middle of a gap"),
    ),
  );
}

function downloadLink(answer, question, format) {
  if (answer.run !== undefined && answer.run !== null) {
    return `/api/v1/priorities/runs/${encodeURIComponent(answer.run)}/result?format=${format}`;
  }
  const query = new URLSearchParams(Object.entries({ ...question, format }).filter(([, v]) => v !== ""));
  return `${config.api.priorities}?${query}`;
}

function showSites(answer, question) {
  clearSites();
  budget.answer = answer;
  const features = answer.features || [];
  map.getSource("sites")?.setData({ type: "FeatureCollection", features });
  const items = features.map((feature, index) => {
    const p = feature.properties;
    const at = feature.geometry.coordinates;
    let marker = null;
    if (index < MAX_NUMBERED_SITES) {
      const element = el("div", { class: "site-marker", "data-rank": p.rank, title: `Site ${p.rank}` }, String(p.rank));
      marker = new maplibregl.Marker({ element })
        .setLngLat(at)
        .setPopup(new maplibregl.Popup({ offset: 14, maxWidth: "22rem" }).setDOMContent(sitePopup(p)))
        .addTo(map);
      budget.markers.push(marker);
    }
    const item = el(
      "li",
      { tabindex: "0", "data-rank": p.rank },
      el("span", { class: "rank" }, String(p.rank)),
      el("span", { class: "gain", "data-field": "gain" }, `+${fixed(p.gain, 1)} (${reportsText(p.reports)})`),
      el("span", { class: "n" }, `${money(p.total_cost)} · ${percent(p.share)}`),
    );
    const open = () => {
      map.flyTo({ center: at, zoom: Math.max(map.getZoom(), 16) });
      if (marker && !marker.getPopup().isOpen()) marker.togglePopup();
    };
    item.addEventListener("click", open);
    item.addEventListener("keydown", (event) => {
      if (event.key === "Enter") open();
    });
    return item;
  });
  $("#sites").replaceChildren(...items);
  $("#budget-summary").replaceChildren(
    features.length
      ? `${features.length} sites for ${money(answer.cost_total)} of ${money(answer.budget)} ` +
          `cover ${percent(answer.share_covered)} of the uncovered demand` +
          (typeof answer.reports_covered === "number" ? ` (${number(answer.reports_covered)} of ${number(answer.demand_reports)} reports).` : ".")
      : "No uncovered demand to cover here: no site would help.",
  );
  $("#sites-csv").href = absolute(downloadLink(answer, question, "csv"));
  $("#sites-gpkg").href = absolute(downloadLink(answer, question, "gpkg"));
  $("#budget-result").hidden = false;
  if (features.length) {
    const lons = features.map((f) => f.geometry.coordinates[0]);
    const lats = features.map((f) => f.geometry.coordinates[1]);
    map.fitBounds(
      [[Math.min(...lons), Math.min(...lats)], [Math.max(...lons), Math.max(...lats)]],
      { padding: 80, maxZoom: 16, duration: 0 },
    );
  }
}
