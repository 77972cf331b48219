// The journey map page: reads GET /pathway-map (Sankey, variant table, cost and outcome), GET /pathway-map/journeys (a
// variant's journeys) and GET /young-people/{person_ref}/journey (a journey's steps) with the caller's bearer token.
// The token comes from the URL fragment (#token=..., which browsers never send to a server) or the token field, and
// is kept in sessionStorage (this tab only). Every value from the API is put on the page as text, never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "casetrack.journey-map.token";
  const FILTERS = ["district", "area", "cohort", "legal_status", "age_band", "gateway", "flag", "referred_from",
                   "referred_to", "as_of"];
  const STAGES = ["presentation", "prevention", "assessment", "panel", "emergency", "supported", "move_on",
                  "re_presentation"];
  const STAGE_COLOURS = {
    presentation: "#4c78a8", prevention: "#72b7b2", assessment: "#54a24b", panel: "#eeca3b", emergency: "#e45756",
    supported: "#f58518", move_on: "#b279a2", re_presentation: "#9d755d",
  };
  const JOURNEYS_LISTED = 50;
  const OTHER_VARIANTS = "other variants";  // the pathway map's row pooling its suppressed variants
  const money = new Intl.NumberFormat("en-GB", {style: "currency", currency: "GBP", maximumFractionDigits: 0});
  const whole = new Intl.NumberFormat("en-GB", {maximumFractionDigits: 1});

  const $ = (selector) => document.querySelector(selector);
  const filters = $("#filters");
  const main = $("#map");
  let shown = null;         // the pathway map on screen, and the query it was read with
  let mapRead = 0;          // each read of the map is numbered: an answer to an older one is dropped
  let drillRead = 0;
  let journeyRead = 0;

  // -- the token -------------------------------------------------------------------------------------------------

  function takeFragment() {
    const fragment = new URLSearchParams(location.hash.slice(1));
    const token = fragment.get("token");
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    for (const name of FILTERS) {
      if (fragment.get(name)) filters.elements[name].value = fragment.get(name);
    }
    fragment.delete("token");  // out of the address bar and the history
    history.replaceState(null, "", location.pathname + location.search + (fragment.toString() ? "#" + fragment : ""));
  }

  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function showWho() {
    const who = $("#who");
    if (!token()) { who.textContent = "no token"; return; }
    try {
      const part = token().split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const claims = JSON.parse(atob(part + "=".repeat((4 - part.length % 4) % 4)));
      const until = claims.exp ? new Date(claims.exp * 1000).toLocaleString("en-GB") : "?";
      who.textContent = `role: ${claims.role || "?"}${claims.district ? " (" + claims.district + ")" : ""}` +
        ` · expires ${until}`;
    } catch (error) {
      who.textContent = "a token is set (not a JWT this page can read)";
    }
  }

  // -- the API ---------------------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, reasons) { super(reasons.join("; ")); this.status = status; this.reasons = reasons; }
  }

  async function reasonsOf(response) {
    try {
      const body = await response.json();
      const detail = body.detail === undefined ? body : body.detail;
      if (Array.isArray(detail)) {
        return detail.map((reason) => {
          const where = (reason.loc || []).filter((part) => part !== "query" && part !== "body").join(".");
          return (where ? where + ": " : "") + (reason.msg || JSON.stringify(reason));
        });
      }
      return [typeof detail === "string" ? detail : JSON.stringify(detail)];
    } catch (error) {
      return [response.statusText || "no reason given"];
    }
  }

  async function api(path, params) {
    if (!token()) {
      throw new ApiError(0, ["no token: paste one above, or open this page as /journey-map#token=<token>"]);
    }
    const url = path + (params && params.toString() ? "?" + params : "");
    let response;
    try {
      response = await fetch(url, {headers: {Authorization: "Bearer " + token(), Accept: "application/json"},
                                   cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer"});
    } catch (error) {
      throw new ApiError(-1, ["the journeys service could not be reached (" + error.message + ")"]);
    }
    if (!response.ok) throw new ApiError(response.status, await reasonsOf(response));
    return response.json();
  }

  function say(error, what) {
    const message = $("#message");
    const reasons = error.reasons ? error.reasons.join("\n") : String(error);
    const heading = {
      0: "No token",
      401: "Not signed in (401): the token was refused. Paste a valid token above.",
      403: "Not allowed (403): your role may not read this.",
      404: "Not listed (404)",
      422: "The filters were refused (422)",
    }[error.status] || (error.status > 0 ? `The service answered ${error.status}` : "Could not read " + what);
    message.className = error.status === 0 ? "info" : "";
    message.textContent = heading + "\n" + reasons;
    message.hidden = false;
  }

  function quiet() { $("#message").hidden = true; $("#message").textContent = ""; }

  // -- words and numbers -----------------------------------------------------------------------------------------

  function stageName(stage) {
    return ({move_on: "move-on", re_presentation: "re-presentation"})[stage] || String(stage).replace(/_/g, " ");
  }

  function labelName(label) {
    const [stage, kind] = String(label).split(":");
    return kind ? `${stageName(stage)} (${kind.replace(/_/g, " ")})` : stageName(stage);
  }

  function variantName(variant) { return variant.map(labelName).join(" → "); }

  function plain(text) { return String(text).replace(/[<>&"]/g, ""); }  // Plotly reads a few tags in labels

  const figures = {
    days: (value) => whole.format(value),
    percent: (value) => whole.format(value) + "%",
    pence: (value) => money.format(value / 100),
  };

  function cell(row, text, className) {
    const td = row.insertCell();
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }

  function figure(row, value, kind) {
    if (value === null || value === undefined) return cell(row, "–", "none");
    return cell(row, figures[kind](value));
  }

  const COLUMNS = [
    ["median_days", "days"], ["p90_days", "days"], ["planned_move_on_percent", "percent"],
    ["returning_within_12_months_percent", "percent"], ["breakdowns_per_100_placements", "days"],
    ["mean_cost_pence", "pence"], ["median_cost_pence", "pence"], ["cost_per_planned_move_on_pence", "pence"],
  ];

  // -- the map ---------------------------------------------------------------------------------------------------

  function chosenFilters() {
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const value = filters.elements[name].value;
      if (value) params.set(name, value);
    }
    return params;
  }

  async function readMap() {
    const params = chosenFilters();
    const read = ++mapRead;
    history.replaceState(null, "", location.pathname + location.search + (params.toString() ? "#" + params : ""));
    closeDrill();
    main.setAttribute("aria-busy", "true");
    document.body.dataset.state = "loading";
    try {
      const map = await api("pathway-map", params);
      if (read !== mapRead) return;
      quiet();
      shown = {map, params};
      drawMap(map, params);
      main.dataset.shownQuery = params.toString();
      document.body.dataset.state = "ready";
    } catch (error) {
      if (read !== mapRead) return;
      say(error, "the pathway map");
      document.body.dataset.state = error.status === 0 ? "no-token" : "error";
    } finally {
      if (read === mapRead) main.setAttribute("aria-busy", "false");
    }
  }

  function drawMap(map, params) {
    const shownRows = map.variants.filter((row) => !row.suppressed);
    const where = [...params].map(([name, value]) => `${name.replace(/_/g, " ")}: ${value}`).join(" · ");
    const total = map.total.suppressed ? `fewer than ${map.threshold} young people`
      : `${map.total.young_people} young people`;
    $("#summary").textContent = `${total} · ${shownRows.length} variant${shownRows.length === 1 ? "" : "s"} shown` +
      (shownRows.length < map.variants.length ? ", others suppressed" : "") +
      ` · ${where || "every district, every referral"}`;
    drawSankey(map.transitions);
    drawTable(map);
    drawCostAndOutcome(shownRows);
  }

  function drawSankey(transitions) {
    const chart = $("#sankey");
    $("#sankey-empty").hidden = transitions.length > 0;
    chart.hidden = transitions.length === 0;
    if (!transitions.length) { Plotly.purge(chart); return; }
    const present = new Set(transitions.flatMap((link) => [link.from_stage, link.to_stage]));
    const nodes = [...STAGES.filter((stage) => present.has(stage)),
                   ...[...present].filter((stage) => !STAGES.includes(stage)).sort()];
    const index = new Map(nodes.map((stage, n) => [stage, n]));
    Plotly.react(chart, [{
      type: "sankey", orientation: "h", valueformat: "d", valuesuffix: " young people",
      node: {label: nodes.map((stage) => plain(stageName(stage))), pad: 18, thickness: 18,
             color: nodes.map((stage) => STAGE_COLOURS[stage] || "#999"), line: {width: 0}},
      link: {source: transitions.map((link) => index.get(link.from_stage)),
             target: transitions.map((link) => index.get(link.to_stage)),
             value: transitions.map((link) => link.young_people),
             color: transitions.map((link) => (STAGE_COLOURS[link.from_stage] || "#999999") + "55")},
    }], {margin: {l: 10, r: 10, t: 10, b: 10}, height: 360, font: {size: 13}},
    {displaylogo: false, responsive: true});
  }

  function drawTable(map) {
    const body = $("#variants tbody");
    body.replaceChildren();
    let number = 0;
    for (const row of map.variants) {
      const tr = body.insertRow();
      tr.dataset.variant = row.variant.join(" > ");
      if (row.suppressed) {
        // Either one row pooling every suppressed variant ("other variants", its count only, or none when the
        // total is suppressed too), or a suppressed variant of its own (no count): never a suppressed figure.
        const pooled = row.variant.length === 1 && row.variant[0] === OTHER_VARIANTS;
        tr.className = "suppressed";
        cell(tr, "");
        cell(tr, pooled ? "other variants (each suppressed)*" : variantName(row.variant) + "*");
        cell(tr, row.young_people === null ? `fewer than ${map.threshold}` : String(row.young_people),
             "young-people suppressed");
        for (const _ of COLUMNS) cell(tr, "suppressed", "suppressed");
        continue;
      }
      number += 1;
      cell(tr, "#" + number);
      const choose = document.createElement("button");
      choose.type = "button";
      choose.className = "link variant";
      choose.textContent = variantName(row.variant);
      choose.title = "List this variant's journeys";
      choose.addEventListener("click", () => readJourneys(row.variant, tr));
      tr.insertCell().append(choose);
      cell(tr, String(row.young_people), "young-people");
      for (const [name, kind] of COLUMNS) figure(tr, row[name], kind);
    }
    if (!map.variants.length) cell(body.insertRow(), "No young people match these filters.").colSpan = 11;
    const foot = $("#variants tfoot");
    foot.replaceChildren();
    const tr = foot.insertRow();
    cell(tr, "");
    cell(tr, "All young people (total)");
    if (map.total.suppressed) {
      cell(tr, `fewer than ${map.threshold}`, "young-people suppressed");
      for (const _ of COLUMNS) cell(tr, "suppressed", "suppressed");
    } else {
      cell(tr, String(map.total.young_people), "young-people");
      for (const [name, kind] of COLUMNS) figure(tr, map.total[name], kind);
    }
    $("#suppression-note").textContent = map.variants.some((row) => row.suppressed)
      ? `* Suppressed: a variant of fewer than ${map.threshold} young people is hidden, with as many others as it ` +
        "takes (smallest first) that the total cannot reveal it, so a suppressed variant may itself be larger; " +
        "hidden variants are pooled, their paths never shown. Transitions count the young people of shown " +
        "variants only." : "";
  }

  function drawCostAndOutcome(rows) {
    const chart = $("#cost-chart");
    $("#cost-empty").hidden = rows.length > 0;
    chart.hidden = rows.length === 0;
    if (!rows.length) { Plotly.purge(chart); return; }
    const x = rows.map((_, n) => "#" + (n + 1));
    const names = rows.map((row) => plain(variantName(row.variant)));
    const pounds = (name) => rows.map((row) => (row[name] === null ? null : row[name] / 100));
    const bar = (name, y, extra) => ({type: "bar", name, x, y, customdata: names,
                                      hovertemplate: "%{customdata}<br>%{y}<extra>" + name + "</extra>", ...extra});
    Plotly.react(chart, [
      bar("Cost per planned move-on (£)", pounds("cost_per_planned_move_on_pence"),
          {offsetgroup: "a", marker: {color: "#1f5fa8"}}),
      bar("Mean cost per young person (£)", pounds("mean_cost_pence"), {offsetgroup: "b", marker: {color: "#9ecae9"}}),
      bar("Ending in a planned move-on (%)", rows.map((row) => row.planned_move_on_percent),
          {offsetgroup: "c", yaxis: "y2", marker: {color: "#b279a2"}}),
    ], {
      barmode: "group", height: 380, margin: {l: 70, r: 70, t: 40, b: 50},
      xaxis: {type: "category", title: {text: "variant (# in the table)"}},
      yaxis: {title: {text: "£"}, rangemode: "tozero", tickprefix: "£"},
      yaxis2: {title: {text: "% planned move-on"}, overlaying: "y", side: "right", range: [0, 100], ticksuffix: "%"},
      legend: {orientation: "h", x: 0, y: 1.02, yanchor: "bottom"},
    }, {displaylogo: false, responsive: true});
  }

  // -- drill-down ------------------------------------------------------------------------------------------------

  function closeDrill() {
    drillRead += 1;
    journeyRead += 1;
    $("#drill").hidden = true;
    $("#drill").dataset.variant = "";
    $("#journey").hidden = true;
    $("#journey").dataset.personRef = "";
    for (const row of document.querySelectorAll("#variants tr.chosen")) row.classList.remove("chosen");
  }

  async function readJourneys(variant, tableRow) {
    closeDrill();
    tableRow.classList.add("chosen");
    const read = drillRead;
    const params = new URLSearchParams(shown.params);
    params.set("variant", variant.join(" > "));
    params.set("limit", String(JOURNEYS_LISTED));
    try {
      const listed = await api("pathway-map/journeys", params);
      if (read !== drillRead) return;
      quiet();
      drawJourneys(listed);
    } catch (error) {
      if (read === drillRead) say(error, "the variant's journeys");
    }
  }

  function drawJourneys(listed) {
    const section = $("#drill");
    $("#drill-variant").textContent = variantName(listed.variant);
    $("#drill-summary").textContent = `${listed.journeys.length} of ${listed.young_people} young people, longest ` +
      "journey first. Choose one to see its steps.";
    const body = $("#variant-journeys tbody");
    body.replaceChildren();
    for (const journey of listed.journeys) {
      const tr = body.insertRow();
      const open = document.createElement("button");
      open.type = "button";
      open.className = "link person";
      open.textContent = journey.person_ref;
      open.addEventListener("click", () => readJourney(journey.person_ref, tr));
      tr.insertCell().append(open);
      cell(tr, figures.days(journey.end_to_end_days));
      cell(tr, journey.open ? "open" : "ended");
      cell(tr, figures.pence(journey.cost_pence));
    }
    section.hidden = false;
    section.dataset.variant = listed.variant.join(" > ");
    section.scrollIntoView({block: "start"});
  }

  async function readJourney(personRef, tableRow) {
    journeyRead += 1;
    const read = journeyRead;
    for (const row of document.querySelectorAll("#variant-journeys tr.chosen")) row.classList.remove("chosen");
    tableRow.classList.add("chosen");
    $("#journey").hidden = true;
    try {
      const asOf = new URLSearchParams(shown.params.get("as_of") ? {as_of: shown.params.get("as_of")} : {});
      const journey = await api(`young-people/${encodeURIComponent(personRef)}/journey`, asOf);
      if (read !== journeyRead) return;
      quiet();
      drawJourney(journey);
    } catch (error) {
      if (read === journeyRead) say(error, "the journey");
    }
  }

  function factsText(facts) {
    return Object.entries(facts || {})
      .filter(([name]) => !name.endsWith("_id") && !name.endsWith("_ref"))
      .map(([name, value]) => `${name.replace(/_/g, " ")}: ${Array.isArray(value) ? value.join(", ")
        : (value !== null && typeof value === "object") ? JSON.stringify(value) : value}`)
      .join("; ");
  }

  function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : ""; }

  function drawJourney(journey) {
    const section = $("#journey");
    $("#journey-ref").textContent = journey.person_ref;
    $("#journey-summary").textContent = `${variantName(journey.variant)} · ${journey.end_to_end_days} days end to ` +
      `end · ${journey.open ? "open" : "ended"} · cost ${figures.pence(journey.cost_pence)}`;
    const cases = $("#journey-cases tbody");
    cases.replaceChildren();
    for (const item of journey.cases) {
      const tr = cases.insertRow();
      for (const value of [item.case_id, item.district, item.cohort, item.gateway, when(item.referred_at),
                           item.status]) cell(tr, value === null || value === undefined ? "" : String(value));
    }
    const steps = $("#journey-steps tbody");
    steps.replaceChildren();
    for (const step of journey.steps) {
      const tr = steps.insertRow();
      tr.dataset.eventType = step.event_type;
      cell(tr, when(step.occurred_at));
      cell(tr, step.stage ? stageName(step.stage) : "");
      cell(tr, step.event_type, "event-type");
      cell(tr, factsText(step.facts), "facts");
      cell(tr, step.cost ? `${figures.pence(step.cost.pence)} (${step.cost.days} days)` : "");
    }
    section.hidden = false;
    section.dataset.personRef = journey.person_ref;
    section.scrollIntoView({block: "start"});
  }

  // -- start -----------------------------------------------------------------------------------------------------

  $("#token-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const field = $("#token");
    if (field.value.trim()) sessionStorage.setItem(TOKEN_KEY, field.value.trim());
    field.value = "";
    showWho();
    readMap();
  });
  $("#forget-token").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    showWho();
    say(new ApiError(0, ["the token is forgotten: paste one to read the map again"]), "");
  });
  filters.addEventListener("submit", (event) => { event.preventDefault(); readMap(); });
  filters.addEventListener("change", () => readMap());
  filters.addEventListener("reset", () => setTimeout(readMap, 0));  // after the fields are cleared

  takeFragment();
  showWho();
  readMap();
})();
