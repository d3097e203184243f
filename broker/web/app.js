/*  asyncmesh dashboard: a counter bar, and views a click apart, each at
    its own URL (#overview, #queues, #running, #scheduled, #failed,
    #nodes, #quotas, #job/ID; a list's filters and page are in the URL
    too: #failed?task=pi.*&since=3600&cursor=...). Reads /api/... every
    2 s while the tab is visible.

    Plain JavaScript, no framework, nothing from elsewhere. Every piece of
    job or node data goes into the page as text (textContent), never as
    markup. With a token (/?token=TOKEN) every request sends it as
    "Authorization: Bearer TOKEN". A few buttons act (docs/monitoring.md,
    Actions): retry a failed job, cancel or delete a job, pause or resume
    a queue; the broker takes them only with its token.
*/
"use strict";

const REFRESH_MS = 2000;
const SAMPLES = 150;                //  5 minutes of throughput samples
const PAGE = 50;                    //  jobs of one page of a list
const TREE_CHILDREN = 50;           //  children listed at once on a job page
const TREE_OPEN = 10;               //  a parent of more children shows counts
const TREE_FETCHES = 20;            //  requests to fill a page of children at most
const COUNT_PAGES = 20;             //  pages of a count read at most
const CHILD_COUNTS_TTL = 10000;     //  ms a running parent's counts are kept
const CHILD_STATUSES = ["pending", "assigned", "active", "callbacks", "succeeded", "failed"];
const FAILURES_SHOWN = 5;           //  on the overview
//  How long a range's history is reused before it is read again (ms): a
//  week is up to 210,000 store keys for the broker to read
const HISTORY_TTL = {hour: 10000, day: 60000, week: 300000};
const VIEWS = ["overview", "queues", "running", "scheduled", "failed", "nodes", "quotas"];

let token = null;
let samples = [];                   //  {t: ms, completed, failed}
let timer = null;
let generation = 0;                 //  of the refresh under way
let rendered = null;                //  the route the view shows
const opened = new Set ();          //  ids whose failure detail is open
const expanded = new Map ();        //  job id -> the children listed: {status, cursors}
const counted = {};                 //  job id -> its children's counts: {at, final, data}
const histories = {};               //  range -> {at: ms, data}
let notice = "";                    //  why the last action failed, until the next

//  ---------------------------------------------------------------------
//  Helpers

//  el ("td", {class: "num"}, "text", child...): an element with text children
function el (tag, attrs, ...children) {
    const node = document.createElement (tag);
    for (const [name, value] of Object.entries (attrs || {}))
        node.setAttribute (name, value);
    for (const child of children) {
        if (child === null || child === undefined)
            continue;
        node.appendChild (typeof child === "object" ? child
                                                    : document.createTextNode (String (child)));
    }
    return node;
}

function replace (id, ...children) {
    const node = document.getElementById (id);
    node.replaceChildren (...children.filter (c => c !== null && c !== undefined));
}

function table (columns, rows, empty) {
    if (!rows.length)
        return el ("p", {class: "empty"}, empty || "none");
    const head = el ("tr", {}, ...columns.map (c =>
        el ("th", c.endsWith ("#") ? {class: "num"} : {}, c.replace (/#$/, ""))));
    return el ("table", {}, el ("thead", {}, head), el ("tbody", {}, ...rows));
}

function jobLink (id) {
    return el ("a", {href: "#job/" + encodeURIComponent (id), class: "id"}, id);
}

function age (iso) {
    if (!iso)
        return "";
    const seconds = (Date.now () - Date.parse (iso)) / 1000;
    if (!isFinite (seconds))
        return iso;
    return seconds < 0 ? "in " + duration (-seconds) : duration (seconds) + " ago";
}

function duration (seconds) {
    if (seconds < 60)
        return Math.max (0, seconds).toFixed (1) + " s";
    if (seconds < 3600)
        return (seconds / 60).toFixed (1) + " min";
    if (seconds < 86400)
        return (seconds / 3600).toFixed (1) + " h";
    return (seconds / 86400).toFixed (1) + " d";
}

function count (n) {
    return Number (n || 0).toLocaleString ("en");
}

function statusOf (job) {
    if (job.status === "completed")
        return job.failure ? "failed" : "completed";
    return job.status;
}

//  A bar of done out of total, with the figures as text
function progressBar (done, total, what) {
    const share = total > 0 ? Math.min (1, Math.max (0, done / total)) : 0;
    const fill = el ("span", {class: "fill"});
    fill.style.width = (share * 100).toFixed (1) + "%";     //  CSSOM: the CSP allows it
    return el ("span", {class: "progress", title: count (done) + " of " + count (total) + what},
        el ("span", {class: "bar"}, fill), " " + count (done) + " of " + count (total) + what);
}

//  The progress a job shows: a parent's children done, or what its task
//  reported; null when there is none
function jobProgress (job) {
    if (job.kind && job.children && job.children.length)
        return progressBar (job.children_done || 0, job.children.length, " children");
    const p = job.progress;
    if (p && typeof p === "object" && Number.isInteger (p.done) && Number.isInteger (p.total)
        && p.total > 0)
        return progressBar (p.done, p.total, "");
    return null;
}

//  GET a JSON answer: {data, next} (next: the Next-Cursor header, or null)
async function fetchJson (path) {
    const headers = token ? {"Authorization": "Bearer " + token} : {};
    const response = await fetch (path, {headers: headers, cache: "no-store"});
    if (!response.ok) {
        let message = response.status + " " + response.statusText;
        try {
            message = (await response.json ()).error || message;
        }
        catch (e) {}
        const error = new Error (path + ": " + message);
        error.status = response.status;
        throw error;
    }
    return {data: await response.json (), next: response.headers.get ("Next-Cursor")};
}

async function get (path) {
    return (await fetchJson (path)).data;
}

//  An action: POST with the token and X-Asyncmesh-Action (which a page
//  of another site cannot send), then the view again; `ask`: a question
//  to confirm first
async function act (path, ask) {
    if (ask && !confirm (ask))
        return;
    //  Done typing: the view shows what the action changed
    if (document.activeElement)
        document.activeElement.blur ();
    const headers = {"X-Asyncmesh-Action": "1"};
    if (token)
        headers ["Authorization"] = "Bearer " + token;
    notice = "";
    try {
        const response = await fetch (path, {method: "POST", headers: headers,
                                              cache: "no-store"});
        if (!response.ok) {
            let message = response.status + " " + response.statusText;
            try {
                message = (await response.json ()).error || message;
            }
            catch (e) {}
            notice = path + ": " + message;
        }
    }
    catch (e) {
        notice = path + ": " + e.message;
    }
    refresh ();
}

function actionButton (label, path, ask) {
    const button = el ("button", {type: "button", class: "action", "data-action": label}, label);
    button.addEventListener ("click", () => act (path, ask));
    return button;
}

//  The buttons of a job: retry a failed task submitted as such, cancel
//  one not completed, delete a completed one
function jobActions (job) {
    const path = "/api/jobs/" + encodeURIComponent (job.id) + "/";
    const alone = !job.parent && !job.kind;
    const done = job.status === "completed";
    return el ("span", {class: "actions"},
        done && job.failure && alone
            ? actionButton ("retry", path + "retry", "Retry job " + job.id + "?") : null,
        !done && job.status !== "callbacks"
            ? actionButton ("cancel", path + "cancel", "Cancel job " + job.id + "?") : null,
        done && alone ? actionButton ("delete", path + "delete", "Delete job " + job.id
                                      + "? It is gone for good.") : null);
}

//  ---------------------------------------------------------------------
//  Routes: #VIEW?PARAMS or #job/ID

function route () {
    const hash = location.hash.replace (/^#/, "");
    const job = hash.match (/^job\/(.+)$/);
    if (job) {
        let id = null;
        try {
            id = decodeURIComponent (job [1]);
        }
        catch (e) {}            //  a malformed %-escape: not a job id
        return {view: "job", id: id, params: new URLSearchParams ()};
    }
    const [name, query] = hash.split ("?", 2);
    return {view: VIEWS.includes (name) ? name : "overview",
            params: new URLSearchParams (query || "")};
}

function href (view, params) {
    const query = new URLSearchParams ();
    for (const [key, value] of Object.entries (params || {}))
        if (value !== null && value !== undefined && value !== "")
            query.set (key, value);
    const text = query.toString ();
    return "#" + view + (text ? "?" + text : "");
}

//  ---------------------------------------------------------------------
//  The counter bar, always on top

function counters (status) {
    let running = 0, pending = 0, scheduled = 0, waiting = 0, dead = 0;
    for (const q of Object.values (status.queues || {})) {
        running += (q.assigned || 0) + (q.active || 0);
        pending += q.pending || 0;
        scheduled += q.scheduled || 0;
    }
    for (const w of Object.values (status.waiting || {}))
        waiting += w.unservable || 0;
    for (const node of status.nodes || [])
        dead += node.dead ? 1 : 0;
    const jobs = status.jobs || {};
    const item = (name, value, view, bad) =>
        el ("a", {href: "#" + view, class: "counter" + (bad && value ? " bad" : ""),
                  "data-counter": name},
            el ("span", {class: "value"}, count (value)), el ("span", {class: "name"}, name));
    replace ("counters",
        item ("processed", jobs.completed, "overview"),
        item ("failed", jobs.failed, "failed", true),
        item ("running", running, "running"),
        item ("pending", pending, "queues"),
        item ("scheduled", scheduled, "scheduled"),
        item ("waiting for a node", waiting, "queues", true),
        item ("dead nodes", dead, "nodes", true));
}

//  ---------------------------------------------------------------------
//  Filters and pages of a list

//  A form of filters for `view`: fields of [name, label, placeholder]
function filterForm (view, params, fields) {
    const form = el ("form", {class: "filters"});
    for (const [name, label, placeholder] of fields) {
        if (name === "since") {
            const select = el ("select", {name: "since"},
                ...[["", "any time"], ["3600", "last hour"], ["86400", "last day"],
                    ["604800", "last week"]].map (([value, text]) =>
                    el ("option", value === (params.get ("since") || "")
                        ? {value: value, selected: ""} : {value: value}, text)));
            form.appendChild (el ("label", {}, label + " ", select));
        }
        else
            form.appendChild (el ("label", {}, label + " ",
                el ("input", {name: name, value: params.get (name) || "",
                              placeholder: placeholder, size: "16"})));
    }
    form.appendChild (el ("button", {type: "submit"}, "filter"));
    form.addEventListener ("submit", event => {
        event.preventDefault ();
        const values = {};
        for (const [name] of fields)
            values [name] = form.elements [name].value.trim ();
        location.hash = href (view, values);
    });
    return form;
}

//  A page of /api/jobs for the view's statuses and filters
async function jobsPage (statuses, params) {
    const query = new URLSearchParams ({status: statuses, limit: String (PAGE)});
    for (const name of ["task", "queue", "node", "since", "cursor"])
        if (params.get (name))
            query.set (name, params.get (name));
    return fetchJson ("/api/jobs?" + query.toString ());
}

//  "First page" and "Next page" links under a list
function pager (view, params, next) {
    const here = Object.fromEntries (params.entries ());
    const links = [];
    if (params.get ("cursor"))
        links.push (el ("a", {href: href (view, {...here, cursor: null})}, "first page"));
    if (next)
        links.push (el ("a", {href: href (view, {...here, cursor: next}), rel: "next"},
                        "next page"));
    return links.length ? el ("p", {class: "pager"}, ...links) : null;
}

//  ---------------------------------------------------------------------
//  Views

function throughputChart (status) {
    const jobs = status.jobs || {};
    samples.push ({t: Date.now (), completed: jobs.completed || 0, failed: jobs.failed || 0});
    if (samples.length > SAMPLES + 1)
        samples.shift ();
    //  Completed jobs per second between two samples
    const rates = [];
    for (let i = 1; i < samples.length; i++) {
        const dt = (samples [i].t - samples [i - 1].t) / 1000;
        const done = samples [i].completed - samples [i - 1].completed;
        rates.push (dt > 0 && done >= 0 ? done / dt : 0);
    }
    const last = rates.length ? rates [rates.length - 1] : 0;
    const width = 600, height = 80, top = Math.max (1, ...rates);
    const svg = document.createElementNS ("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute ("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute ("preserveAspectRatio", "none");
    svg.setAttribute ("role", "img");
    svg.setAttribute ("aria-label", "completed jobs per second, last 5 minutes");
    const line = document.createElementNS ("http://www.w3.org/2000/svg", "polyline");
    const step = width / SAMPLES;
    const start = width - (rates.length - 1) * step;
    line.setAttribute ("points", rates.map ((r, i) =>
        (start + i * step).toFixed (1) + "," + (height - 2 - r / top * (height - 4)).toFixed (1))
        .join (" "));
    svg.appendChild (line);
    const title = document.createElementNS ("http://www.w3.org/2000/svg", "title");
    title.textContent = "peak " + top.toFixed (1) + " jobs/s";
    svg.appendChild (title);
    return el ("section", {id: "throughput"},
        el ("h2", {}, "Throughput ",
            el ("span", {class: "muted"}, last.toFixed (1) + " jobs/s completed now; "
                + count (jobs.completed) + " completed (" + count (jobs.failed)
                + " failed) since the broker started")),
        svg);
}

function queueRows (status, names) {
    const paused = new Set (status.paused || []);
    return names.map (name => {
        const q = status.queues [name] || {};
        const w = (status.waiting || {}) [name] || {};
        return el ("tr", {"data-queue": name}, el ("td", {}, name),
            ...["pending", "scheduled", "assigned", "active"].map (s =>
                el ("td", {class: "num"}, count (q [s]))),
            el ("td", {class: "num" + (w.unservable ? " bad" : "")}, count (w.unservable)),
            el ("td", {}, w.oldest_age >= 0 ? duration (w.oldest_age) : ""),
            el ("td", {}, paused.has (name) ? el ("span", {class: "bad"}, "paused ") : null,
                actionButton (paused.has (name) ? "resume" : "pause", "/api/queues/"
                              + encodeURIComponent (name) + (paused.has (name) ? "/resume"
                                                                                : "/pause"),
                              (paused.has (name) ? "Resume" : "Pause") + " queue " + name
                              + "?")));
    });
}
const QUEUE_COLUMNS = ["queue", "pending#", "scheduled#", "assigned#", "active#",
                       "waiting for a node#", "oldest pending", "dispatch"];

function queueNames (status) {
    return Object.keys (status.queues || {}).sort ();
}

function failureRows (jobs) {
    return jobs.map (job => {
        const f = job.failure || {};
        const detail = f.detail ? el ("details", opened.has (job.id) ? {open: ""} : {},
                                      el ("summary", {}, "detail"), el ("pre", {}, f.detail))
                                : null;
        if (detail)
            detail.addEventListener ("toggle", () =>
                detail.open ? opened.add (job.id) : opened.delete (job.id));
        return el ("tr", {"data-id": job.id},
            el ("td", {}, jobLink (job.id)),
            el ("td", {}, job.task || ""),
            el ("td", {}, job.queue || ""),
            el ("td", {title: job.completed_at || ""}, age (job.completed_at)),
            el ("td", {class: "status-failed"}, f.type || ""),
            el ("td", {}, f.message || ""),
            el ("td", {}, detail),
            el ("td", {}, jobActions (job)));
    });
}
const FAILURE_COLUMNS = ["id", "task", "queue", "completed", "error", "message", "detail", ""];

//  The history of a range (hour, day, week), from the cache when fresh
async function history (range) {
    const kept = histories [range];
    if (kept && Date.now () - kept.at < HISTORY_TTL [range])
        return kept.data;
    const data = await get ("/api/history?range=" + range);
    histories [range] = {at: Date.now (), data: data};
    return data;
}

//  A polyline of `values` (one a step) scaled to `top` in a width x height box
function line (values, top, width, height, cls) {
    const node = document.createElementNS ("http://www.w3.org/2000/svg", "polyline");
    const step = values.length > 1 ? width / (values.length - 1) : width;
    node.setAttribute ("points", values.map ((v, i) => (i * step).toFixed (1) + ","
        + (height - 2 - v / top * (height - 4)).toFixed (1)).join (" "));
    node.setAttribute ("class", cls);
    return node;
}

//  Jobs completed per step over the range, succeeded and failed, as kept
//  by the broker: there as soon as the page opens
function historyChart (range, data) {
    const succeeded = data.succeeded || [], failed = data.failed || [];
    const sum = values => values.reduce ((a, b) => a + b, 0);
    const width = 600, height = 100;
    const top = Math.max (1, ...succeeded, ...failed);
    const svg = document.createElementNS ("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute ("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute ("preserveAspectRatio", "none");
    svg.setAttribute ("role", "img");
    svg.setAttribute ("aria-label", "jobs completed per " + duration (data.step_seconds || 60)
                      + ", last " + range);
    svg.appendChild (line (succeeded, top, width, height, "succeeded"));
    svg.appendChild (line (failed, top, width, height, "failed"));
    const title = document.createElementNS ("http://www.w3.org/2000/svg", "title");
    title.textContent = "at most " + count (top) + " jobs a step";
    svg.appendChild (title);
    const since = data.start ? new Date (data.start * 1000).toISOString ().slice (0, 16)
                                   .replace ("T", " ") + " UTC" : "";
    return el ("section", {id: "history", "data-succeeded": String (sum (succeeded)),
                           "data-failed": String (sum (failed))},
        el ("h2", {}, "Completed ",
            ...["hour", "day", "week"].map (r => r === range
                ? el ("strong", {}, "last " + r + " ")
                : el ("a", {href: href ("overview", {range: r})}, "last " + r + " ")),
            el ("span", {class: "muted"}, count (sum (succeeded)) + " succeeded, "
                + count (sum (failed)) + " failed, since " + since + ", one point a "
                + duration (data.step_seconds || 60))),
        svg);
}

async function viewOverview (status, params) {
    const range = ["hour", "day", "week"].includes (params.get ("range"))
                ? params.get ("range") : "hour";
    const [failures, past] = await Promise.all ([
        get ("/api/jobs?status=failed&limit=" + FAILURES_SHOWN), history (range)]);
    const nodes = status.nodes || [];
    const dead = nodes.filter (n => n.dead).length;
    const names = queueNames (status).slice (0, 10);
    return [
        historyChart (range, past),
        throughputChart (status),
        el ("section", {}, el ("h2", {}, el ("a", {href: "#queues"}, "Queues"),
                               el ("span", {class: "muted"}, " the first 10 by name")),
            table (QUEUE_COLUMNS, queueRows (status, names))),
        el ("section", {}, el ("h2", {}, el ("a", {href: "#nodes"}, "Nodes")),
            el ("p", {}, count (nodes.length - dead) + " alive, " + count (dead) + " dead")),
        el ("section", {}, el ("h2", {}, el ("a", {href: "#failed"}, "Recent failures")),
            table (FAILURE_COLUMNS, failureRows (failures)))
    ];
}

async function viewQueues (status) {
    return [el ("section", {}, el ("h2", {}, "Queues"),
                table (QUEUE_COLUMNS, queueRows (status, queueNames (status))),
                status.queues_more ? el ("p", {class: "muted"}, count (status.queues_more)
                                         + " more queues not listed") : null)];
}

async function viewRunning (status, params) {
    const page = await jobsPage ("assigned,active", params);
    return [el ("section", {}, el ("h2", {}, "Running"),
        filterForm ("running", params, [["task", "task", "pi.*"], ["queue", "queue", ""],
                                        ["node", "node", "uuid"]]),
        table (["id", "task", "queue", "node", "agent", "status", "running for", "progress",
                "attempt#"],
            page.data.map (job => el ("tr", {"data-id": job.id},
                el ("td", {}, jobLink (job.id)),
                el ("td", {}, job.task || (job.kind ? "(" + job.kind + ")" : "")),
                el ("td", {}, job.queue || ""),
                el ("td", {class: "id"}, job.node || ""),
                el ("td", {}, job.agent || ""),
                el ("td", {class: "status-" + statusOf (job)}, statusOf (job)),
                el ("td", {}, job.active_start
                    ? duration ((Date.now () - Date.parse (job.active_start)) / 1000) : ""),
                el ("td", {}, jobProgress (job)),
                el ("td", {class: "num"}, job.attempts))), "no job is running"),
        pager ("running", params, page.next))];
}

async function viewScheduled (status, params) {
    let schedules = null;
    try {
        schedules = await get ("/api/schedules");
    }
    catch (e) {
        if (e.status !== 404)
            throw e;
    }
    const page = await jobsPage ("scheduled", params);
    return [
        schedules ? el ("section", {}, el ("h2", {}, "Recurring schedules"),
            table (["name", "every", "next tick", "task", "last job", "ticks#", "last error"],
                schedules.map (s => el ("tr", {},
                    el ("td", {}, s.name),
                    el ("td", {}, s.cron ? s.cron + " (" + (s.tz || "UTC") + ")"
                                         : duration (s.interval || 0)),
                    el ("td", {title: s.next || ""}, age (s.next)),
                    el ("td", {}, (s.spec && s.spec.task) || ""),
                    el ("td", {}, s.last_job ? jobLink (s.last_job) : ""),
                    el ("td", {class: "num"}, count (s.ticks)),
                    el ("td", {class: "error"}, s.last_error || ""))))) : null,
        el ("section", {}, el ("h2", {}, "Jobs that begin later"),
            filterForm ("scheduled", params, [["task", "task", "pi.*"], ["queue", "queue", ""]]),
            table (["id", "task", "queue", "begins", "attempt#"],
                page.data.map (job => el ("tr", {"data-id": job.id},
                    el ("td", {}, jobLink (job.id)),
                    el ("td", {}, job.task || ""),
                    el ("td", {}, job.queue || ""),
                    el ("td", {title: job.begin_after}, age (job.begin_after)),
                    el ("td", {class: "num"}, job.attempts))),
                page.next ? "none on this page" : "none"),
            pager ("scheduled", params, page.next))
    ];
}

async function viewFailed (status, params) {
    const page = await jobsPage ("failed", params);
    return [el ("section", {}, el ("h2", {}, "Failed"),
        filterForm ("failed", params, [["task", "task", "pi.*"], ["queue", "queue", ""],
                                       ["node", "node", "uuid"], ["since", "completed", ""]]),
        table (FAILURE_COLUMNS, failureRows (page.data), "no failed job"),
        pager ("failed", params, page.next))];
}

function agentList (node) {
    return el ("ul", {class: "agents"}, ...(node.agents || []).map (a =>
        el ("li", {}, a.name + " " + a.running + "/" + a.size
                      + (a.pending ? ", " + a.pending + " pending only it takes" : ""),
            el ("span", {class: "muted"}, " tasks " + (a.filter || "*")
                + " queues " + (a.queues || "default")))));
}

async function viewNodes (status) {
    const nodes = (status.nodes || []).slice ().sort ((a, b) =>
        (a.dead - b.dead) || a.uuid.localeCompare (b.uuid));
    return [el ("section", {id: "nodes"}, el ("h2", {}, "Nodes"),
        table (["uuid", "address", "host", "last heartbeat", "state", "running#", "agents"],
            nodes.map (node => el ("tr", {"data-uuid": node.uuid},
                el ("td", {class: "id"}, node.uuid),
                el ("td", {}, node.address || ""),
                el ("td", {}, (node.host || "") + (node.pid ? " pid " + node.pid : "")),
                el ("td", {title: node.last_heartbeat || ""}, age (node.last_heartbeat)),
                el ("td", {class: node.dead ? "dead" : "alive"}, node.dead ? "dead" : "alive"),
                el ("td", {class: "num"}, node.running || 0),
                el ("td", {}, agentList (node)))), "no node"))];
}

//  A quota's new size, confirmed, then POSTed
function quotaForm (quota) {
    const input = el ("input", {name: "size", type: "number", min: "1", max: "1000000",
                                value: String (quota.size), size: "6"});
    const form = el ("form", {class: "quota"}, input,
                     el ("button", {type: "submit", "data-action": "size"}, "set"));
    form.addEventListener ("submit", event => {
        event.preventDefault ();
        const size = Number (input.value);
        if (!Number.isInteger (size) || size < 1) {
            notice = "a quota's size is a whole number of 1 or more";
            return refresh ();
        }
        act ("/api/quotas/" + encodeURIComponent (quota.name) + "?size=" + size,
             "Set quota " + quota.name + " to " + size + "?");
    });
    return form;
}

async function viewQuotas () {
    let quotas;
    try {
        quotas = await get ("/api/quotas");
    }
    catch (e) {
        if (e.status !== 404)
            throw e;
        return [el ("p", {class: "empty"}, "this broker does not list quotas over HTTP")];
    }
    return [el ("section", {}, el ("h2", {}, "Quotas"),
        table (["name", "size#", "running#", "change the size"],
            quotas.map (q => el ("tr", {"data-quota": q.name},
                el ("td", {}, q.name),
                el ("td", {class: "num"}, count (q.size)),
                el ("td", {class: "num"}, count (q.running)),
                el ("td", {}, quotaForm (q)))), "no quota"))];
}

//  ---------------------------------------------------------------------
//  The job page

function jobDetails (job) {
    return el ("table", {class: "details"}, el ("tbody", {}, ...[
        "status", "task", "queue", "priority", "submitted", "begin_after", "active_start",
        "active_end", "completed_at", "attempts", "interruptions", "node", "agent",
        "retry", "parent", "handoff"].map (key => el ("tr", {}, el ("th", {}, key),
            el ("td", {}, (key === "parent" || key === "handoff") && job [key] ? jobLink (job [key])
                : key === "task" && job.kind ? "(" + job.kind + ")"
                : key === "status" ? el ("span", {class: "status-" + statusOf (job)}, statusOf (job))
                : job [key] === null || job [key] === undefined ? "" : String (job [key]))))));
}

function outcome (job) {
    const f = job.failure;
    if (f)
        return el ("div", {class: "outcome"}, el ("span", {class: "status-failed"}, f.type + ": "),
                   f.message || "", f.detail ? el ("pre", {class: "backtrace"}, f.detail) : null);
    if ("result" in job && job.status === "completed")
        return el ("div", {class: "outcome"}, el ("code", {}, JSON.stringify (job.result)));
    return null;
}

//  A child or callback in the tree: one line, its children behind a
//  click when it has some
async function treeItem (id, kind) {
    let job;
    try {
        job = await get ("/api/jobs/" + encodeURIComponent (id));
    }
    catch (e) {
        return el ("li", {}, el ("span", {class: "kind"}, kind + " "), jobLink (id), " ",
                   el ("span", {class: "muted"}, e.message));
    }
    return treeLine (job, kind);
}

function treeLine (job, kind) {
    const id = job.id;
    return el ("li", {"data-id": id}, el ("span", {class: "kind"}, kind + " "), jobLink (id), " ",
        el ("strong", {}, job.task || (job.kind ? "(" + job.kind + ")" : "")), " ",
        el ("span", {class: "status-" + statusOf (job)}, statusOf (job)), " ",
        jobProgress (job),
        el ("span", {class: "muted"}, " attempts " + job.attempts
            + (job.node ? ", node " + job.node : "")),
        outcome (job));
}

//  The children of a parent counted by status (COUNT's by_status, page by
//  page, at most COUNT_PAGES pages): again after CHILD_COUNTS_TTL ms
//  while the parent runs, once when it completed
async function childCounts (job) {
    const cached = counted [job.id];
    if (cached && (cached.final || Date.now () - cached.at < CHILD_COUNTS_TTL))
        return cached.data;
    const counts = Object.fromEntries (CHILD_STATUSES.map (name => [name, 0]));
    let cursor = null;
    for (let page = 0; page < COUNT_PAGES; page++) {
        const query = new URLSearchParams ({parent: job.id, by: "status"});
        if (cursor)
            query.set ("cursor", cursor);
        const answer = await fetchJson ("/api/count?" + query.toString ());
        for (const name of CHILD_STATUSES)
            counts [name] += (answer.data.statuses || {}) [name] || 0;
        cursor = answer.next;
        if (!cursor)
            break;
    }
    const data = {counts: counts, more: cursor !== null};
    counted [job.id] = {at: Date.now (), final: job.status === "completed" && !data.more,
                        data: data};
    return data;
}

//  The children of a parent of more than TREE_OPEN: their counts by
//  status, each a button that lists the children of that status, a page
//  of TREE_CHILDREN at a time
async function childrenByStatus (job) {
    const {counts, more} = await childCounts (job);
    const shown = expanded.get (job.id);
    const buttons = CHILD_STATUSES.filter (name => counts [name] > 0).map (name => {
        const button = el ("button", {type: "button", class: "toggle status-"
                                      + (name === "succeeded" ? "completed" : name),
                                      "data-children": name,
                                      "aria-pressed": shown && shown.status === name ? "true" : "false"},
                           name + " " + count (counts [name]));
        button.addEventListener ("click", () => {
            shown && shown.status === name ? expanded.delete (job.id)
                                           : expanded.set (job.id, {status: name, cursors: [null]});
            refresh ();
        });
        return button;
    });
    const parts = [el ("p", {class: "counts", id: "child-counts"}, ...buttons,
                       more ? el ("span", {class: "muted"}, " (more not counted yet)") : null)];
    if (shown) {
        //  The broker's page stops where its time ran out (a few dozen
        //  children read, on a busy broker): follow it until the page
        //  shows TREE_CHILDREN or the children end, in TREE_FETCHES at most
        const page = {data: [], next: shown.cursors [shown.cursors.length - 1]};
        for (let fetches = 0; fetches < TREE_FETCHES; fetches++) {
            const query = new URLSearchParams ({parent: job.id, status: shown.status,
                                                limit: String (TREE_CHILDREN - page.data.length)});
            if (page.next)
                query.set ("cursor", page.next);
            const part = await fetchJson ("/api/jobs?" + query.toString ());
            page.data = page.data.concat (part.data);
            page.next = part.next;
            if (!page.next || page.data.length >= TREE_CHILDREN)
                break;
        }
        const pager = [];
        if (shown.cursors.length > 1) {
            const first = el ("button", {type: "button", class: "toggle"}, "first");
            first.addEventListener ("click", () => { shown.cursors = [null]; refresh (); });
            pager.push (first);
        }
        if (page.next) {
            const next = el ("button", {type: "button", class: "toggle", "data-next": "children"},
                             "next " + TREE_CHILDREN);
            next.addEventListener ("click", () => { shown.cursors.push (page.next); refresh (); });
            pager.push (next);
        }
        parts.push (el ("ul", {class: "tree"}, ...page.data.map (child => treeLine (child, "child"))),
                    pager.length ? el ("p", {class: "pager"}, ...pager) : null);
    }
    return parts;
}

//  The children of a job: a count and a bar; a few listed, many counted
//  by status
async function children (job) {
    const ids = job.children || [];
    const callbacks = job.callbacks || [];
    const parts = [];
    if (ids.length) {
        parts.push (el ("h2", {}, count (ids.length) + " children "), jobProgress (job));
        if (ids.length <= TREE_OPEN)
            parts.push (el ("ul", {class: "tree"},
                ...await Promise.all (ids.map (id => treeItem (id, "child")))));
        else
            parts.push (...await childrenByStatus (job));
    }
    if (job.postprocess)
        parts.push (el ("h2", {}, "Postprocess"),
                    el ("ul", {class: "tree"}, await treeItem (job.postprocess, "postprocess")));
    if (callbacks.length)
        parts.push (el ("h2", {}, "Callbacks"), el ("ul", {class: "tree"},
            ...await Promise.all (callbacks.slice (0, TREE_CHILDREN).map (id =>
                treeItem (id, "callback")))));
    return parts;
}

//  The attempts before the job's retries (its asyncmesh.retries
//  annotation, the last 10), newest last
function earlierAttempts (job) {
    const retries = (job.annotations || {}) ["asyncmesh.retries"];
    if (!Array.isArray (retries) || !retries.length)
        return null;
    return el ("section", {id: "retries"}, el ("h2", {}, "Before its retries"),
        table (["attempts#", "completed", "error", "message", "retried", "by"],
            retries.map (r => el ("tr", {},
                el ("td", {class: "num"}, r.attempts),
                el ("td", {title: r.completed_at || ""}, age (r.completed_at)),
                el ("td", {class: "status-failed"}, r.type || ""),
                el ("td", {}, r.message || ""),
                el ("td", {title: r.retried_at || ""}, age (r.retried_at)),
                el ("td", {}, r.by || "")))));
}

//  Its attempts, newest last: those that did not end it (its
//  asyncmesh.attempts annotation, the last 10), then its last one
function attempts (job) {
    const earlier = (job.annotations || {}) ["asyncmesh.attempts"];
    const rows = Array.isArray (earlier) ? earlier.slice () : [];
    if (job.attempts > 0 && !job.kind) {
        const f = job.failure;
        const last = rows.length ? rows [rows.length - 1].attempt : 0;
        if (job.attempts > last)
            rows.push ({attempt: job.attempts, node: job.node, started: job.active_start,
                         ended: job.active_end, outcome: f ? "failed"
                             : job.status === "completed" ? "succeeded" : statusOf (job),
                         type: f ? f.type : null, message: f ? f.message : ""});
    }
    if (!rows.length)
        return null;
    return el ("section", {id: "attempts"}, el ("h2", {}, "Attempts"),
        table (["attempt#", "node", "started", "ended", "outcome", "error", "message"],
            rows.map (a => el ("tr", {},
                el ("td", {class: "num"}, a.attempt),
                el ("td", {class: "id"}, a.node || ""),
                el ("td", {title: a.started || ""}, a.started ? age (a.started) : ""),
                el ("td", {title: a.ended || ""}, a.ended ? age (a.ended) : ""),
                el ("td", {class: "status-" + (a.outcome === "succeeded" ? "completed"
                                               : a.outcome === "failed" ? "failed" : "active")},
                    a.outcome || ""),
                el ("td", {}, a.type || ""),
                el ("td", {}, a.message || "")))));
}

async function viewJob (id) {
    if (!id)
        throw new Error ("not a job id: " + location.hash.slice (1, 200));
    const job = await get ("/api/jobs/" + encodeURIComponent (id));
    return [el ("section", {id: "job"},
        el ("h2", {}, "Job ", el ("span", {class: "id", id: "job-id"}, id), " ",
            jobActions (job)),
        jobDetails (job), job.kind ? null : jobProgress (job), outcome (job)),
        attempts (job), earlierAttempts (job),
        el ("section", {id: "job-tree"}, ...await children (job))];
}

//  ---------------------------------------------------------------------
//  Refresh

const RENDER = {
    overview: viewOverview, queues: viewQueues, running: viewRunning,
    scheduled: viewScheduled, failed: viewFailed, nodes: viewNodes, quotas: viewQuotas
};

async function refresh () {
    clearTimeout (timer);
    const mine = ++generation;
    const where = route ();
    for (const tab of document.querySelectorAll ("#tabs a"))
        tab.classList.toggle ("current", tab.dataset.view === where.view);
    try {
        const status = await get ("/api/status");
        replace ("broker", "asyncbroker " + status.version + ", up " + duration (status.uptime)
                 + ", store " + ((status.store_bytes || 0) / 1048576).toFixed (1) + " MiB");
        counters (status);
        const parts = where.view === "job" ? await viewJob (where.id)
                                           : await RENDER [where.view] (status, where.params);
        //  A later refresh (the route changed while we read) wins
        if (mine !== generation)
            return;
        //  Someone typing in a filter keeps the view as it is
        const active = document.activeElement;
        const typing = active && /^(INPUT|SELECT|TEXTAREA)$/.test (active.tagName)
                       && document.getElementById ("view").contains (active);
        if (!typing || rendered !== location.hash)
            replace ("view", ...parts);
        rendered = location.hash;
        replace ("error", notice);
    }
    catch (e) {
        if (mine !== generation)
            return;
        replace ("error", e.message);
    }
    if (!document.hidden)
        timer = setTimeout (refresh, REFRESH_MS);
}

function start () {
    const params = new URLSearchParams (location.search);
    token = params.get ("token") || sessionStorage.getItem ("asyncmesh-token");
    if (token)
        sessionStorage.setItem ("asyncmesh-token", token);
    window.addEventListener ("hashchange", refresh);
    document.addEventListener ("visibilitychange", () => {
        if (!document.hidden)
            refresh ();
    });
    document.getElementById ("search").addEventListener ("submit", event => {
        event.preventDefault ();
        const id = document.getElementById ("search-id").value.trim ().toLowerCase ();
        if (id)
            location.hash = "#job/" + encodeURIComponent (id);
    });
    refresh ();
}

start ();
