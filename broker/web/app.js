/*  asyncmesh dashboard: reads /api/status and /api/jobs every 2 s.

    Plain JavaScript, no framework, nothing from elsewhere. Every piece of
    job or node data goes into the page as text (textContent), never as
    markup. With a token (/?token=TOKEN) every request sends it as
    "Authorization: Bearer TOKEN".
*/
"use strict";

const REFRESH_MS = 2000;
const SAMPLES = 150;                //  5 minutes of throughput samples
const TREE_MAX = 200;               //  jobs fetched for one job tree
const LIST_LIMIT = 50;              //  one small page of /api/jobs, never all
                                    //  (failures: from the failed index)

let token = null;
let samples = [];                   //  {t: ms, completed, failed}
let timer = null;

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

function table (columns, rows) {
    if (!rows.length)
        return el ("p", {class: "empty"}, "none");
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
    if (seconds < 60)
        return Math.max (0, seconds).toFixed (1) + " s ago";
    if (seconds < 3600)
        return (seconds / 60).toFixed (1) + " min ago";
    return (seconds / 3600).toFixed (1) + " h ago";
}

function duration (seconds) {
    if (seconds < 60)
        return seconds.toFixed (1) + " s";
    if (seconds < 3600)
        return (seconds / 60).toFixed (1) + " min";
    if (seconds < 86400)
        return (seconds / 3600).toFixed (1) + " h";
    return (seconds / 86400).toFixed (1) + " d";
}

function statusOf (job) {
    if (job.status === "completed")
        return job.failure ? "failed" : "completed";
    return job.status;
}

async function get (path) {
    const headers = token ? {"Authorization": "Bearer " + token} : {};
    const response = await fetch (path, {headers: headers, cache: "no-store"});
    if (!response.ok) {
        let message = response.status + " " + response.statusText;
        try {
            message = (await response.json ()).error || message;
        }
        catch (e) {}
        throw new Error (path + ": " + message);
    }
    return response.json ();
}

//  ---------------------------------------------------------------------
//  The overview

function showQueues (status) {
    const names = Object.keys (status.queues || {}).sort ();
    replace ("queues", table (["queue", "pending#", "scheduled#", "assigned#", "active#"],
        names.map (name => {
            const q = status.queues [name];
            return el ("tr", {}, el ("td", {}, name),
                ...["pending", "scheduled", "assigned", "active"].map (s =>
                    el ("td", {class: "num"}, q [s] || 0)));
        })));
}

function agentList (node) {
    return el ("ul", {class: "agents"}, ...(node.agents || []).map (a =>
        el ("li", {}, a.name + " " + a.running + "/" + a.size
                      + (a.pending ? ", " + a.pending + " pending only it takes" : ""),
            el ("span", {class: "muted"}, " tasks " + (a.filter || "*")
                + " queues " + (a.queues || "default")))));
}

function showNodes (status) {
    const nodes = (status.nodes || []).slice ().sort ((a, b) =>
        (a.dead - b.dead) || a.uuid.localeCompare (b.uuid));
    replace ("nodes", table (["uuid", "address", "host", "last heartbeat", "state",
                              "running#", "agents"],
        nodes.map (node => el ("tr", {},
            el ("td", {class: "id"}, node.uuid),
            el ("td", {}, node.address || ""),
            el ("td", {}, (node.host || "") + (node.pid ? " pid " + node.pid : "")),
            el ("td", {title: node.last_heartbeat || ""}, age (node.last_heartbeat)),
            el ("td", {class: node.dead ? "dead" : "alive"}, node.dead ? "dead" : "alive"),
            el ("td", {class: "num"}, node.running || 0),
            el ("td", {}, agentList (node))))));
}

function showThroughput (status) {
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
    replace ("rate", last.toFixed (1) + " jobs/s completed, " + (jobs.completed || 0)
             + " completed (" + (jobs.failed || 0) + " failed) since the broker started");
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
    replace ("throughput", svg);
}

function showRunning (jobs) {
    replace ("running", table (["id", "task", "queue", "node", "agent", "running for", "attempt#"],
        jobs.map (job => el ("tr", {},
            el ("td", {}, jobLink (job.id)),
            el ("td", {}, job.task || ""),
            el ("td", {}, job.queue || ""),
            el ("td", {class: "id"}, job.node || ""),
            el ("td", {}, job.agent || ""),
            el ("td", {}, job.active_start
                ? duration ((Date.now () - Date.parse (job.active_start)) / 1000) : ""),
            el ("td", {class: "num"}, job.attempts)))));
}

function showFailures (jobs) {
    replace ("failures", table (["id", "task", "completed", "error", "message", "detail"],
        jobs.map (job => {
            const f = job.failure || {};
            return el ("tr", {},
                el ("td", {}, jobLink (job.id)),
                el ("td", {}, job.task || ""),
                el ("td", {title: job.completed_at || ""}, age (job.completed_at)),
                el ("td", {class: "status-failed"}, f.type || ""),
                el ("td", {}, f.message || ""),
                el ("td", {}, f.detail ? el ("details", {}, el ("summary", {}, "detail"),
                                              el ("pre", {}, f.detail)) : ""));
        })));
}

async function refreshOverview () {
    const [status, running, failures] = await Promise.all ([
        get ("/api/status"),
        get ("/api/jobs?status=active&limit=" + LIST_LIMIT),
        get ("/api/jobs?status=failed&limit=" + LIST_LIMIT)
    ]);
    replace ("broker", "asyncbroker " + status.version + ", up " + duration (status.uptime)
             + ", store " + ((status.store_bytes || 0) / 1048576).toFixed (1) + " MiB");
    showThroughput (status);
    showQueues (status);
    showNodes (status);
    showRunning (running);
    showFailures (failures);
}

//  ---------------------------------------------------------------------
//  A job's tree of children and callbacks

async function fetchTree (id, budget) {
    if (budget.left-- <= 0)
        return {id: id, truncated: true};
    let job;
    try {
        job = await get ("/api/jobs/" + encodeURIComponent (id));
    }
    catch (e) {
        return {id: id, error: e.message};
    }
    const kids = async ids => Promise.all ((ids || []).map (child => fetchTree (child, budget)));
    job._children = await kids (job.children);
    job._callbacks = await kids (job.callbacks);
    return job;
}

function treeItem (job, kind) {
    if (job.truncated || job.error)
        return el ("li", {}, el ("span", {class: "kind"}, kind + " "), jobLink (job.id),
                   " ", el ("span", {class: "muted"}, job.error || "(not shown: tree too big)"));
    const f = job.failure;
    const item = el ("li", {},
        el ("span", {class: "kind"}, kind + " "), jobLink (job.id), " ",
        el ("strong", {}, job.task || (job.children && job.children.length ? "(group)" : "")),
        " ", el ("span", {class: "status-" + statusOf (job)}, statusOf (job)),
        " ", el ("span", {class: "muted"}, "attempts " + job.attempts
                 + (job.node ? ", node " + job.node : "")),
        f ? el ("div", {}, el ("span", {class: "status-failed"}, f.type + ": "), f.message || "",
                f.detail ? el ("pre", {}, f.detail) : null)
          : ("result" in job && job.status === "completed"
             ? el ("div", {}, el ("code", {}, JSON.stringify (job.result))) : null));
    const sub = [...job._children.map (c => treeItem (c, "child")),
                 ...job._callbacks.map (c => treeItem (c, "callback"))];
    if (sub.length)
        item.appendChild (el ("ul", {class: "tree"}, ...sub));
    return item;
}

async function refreshJob (id) {
    const root = await fetchTree (id, {left: TREE_MAX});
    replace ("job-id", el ("span", {class: "id"}, id));
    if (root.error)
        throw new Error (root.error);
    const details = el ("table", {}, el ("tbody", {}, ...[
        "status", "queue", "priority", "submitted", "begin_after", "active_start",
        "active_end", "completed_at", "attempts", "interruptions", "node", "agent",
        "retry", "parent"].map (key => el ("tr", {}, el ("th", {}, key),
            el ("td", {}, key === "parent" && root.parent ? jobLink (root.parent)
                : key === "status" ? statusOf (root)
                : root [key] === null || root [key] === undefined ? "" : String (root [key]))))));
    replace ("job-tree", details, el ("h2", {}, "Children and callbacks"),
             el ("ul", {class: "tree root"}, treeItem (root, "job")));
}

//  ---------------------------------------------------------------------
//  Routing and refresh

function route () {
    const match = location.hash.match (/^#job\/(.+)$/);
    return match ? {job: decodeURIComponent (match [1])} : {};
}

async function refresh () {
    clearTimeout (timer);
    const where = route ();
    document.getElementById ("overview").hidden = !!where.job;
    document.getElementById ("job").hidden = !where.job;
    try {
        if (where.job)
            await refreshJob (where.job);
        else
            await refreshOverview ();
        replace ("error");
    }
    catch (e) {
        replace ("error", e.message);
    }
    timer = setTimeout (refresh, REFRESH_MS);
}

function start () {
    const params = new URLSearchParams (location.search);
    token = params.get ("token") || sessionStorage.getItem ("asyncmesh-token");
    if (token)
        sessionStorage.setItem ("asyncmesh-token", token);
    window.addEventListener ("hashchange", refresh);
    refresh ();
}

start ();
