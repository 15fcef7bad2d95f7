// The script editor: CodeMirror (YAML, linted by the server's validator) and the state graph.
"use strict";

(function () {
  const CM = window.CallrobotCodeMirror;
  const form = document.getElementById("script-form");
  const source = document.getElementById("yaml-text");
  const csrf = document.body.dataset.csrf;
  let graphText = null;

  async function postJson(url, text) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ text }),
    });
    if (response.status === 401) {
      window.location.assign(response.headers.get("HX-Redirect") || "/signin");
    }
    if (!response.ok) throw new Error(url + " answered " + response.status);
    return response.json();
  }

  function position(doc, line, column) {
    const at = doc.line(Math.min(Math.max(line, 1), doc.lines));
    return Math.min(at.from + Math.max(column - 1, 0), at.to);
  }

  const cyStyle = [
    { selector: "node", style: {
      label: "data(id)", "text-valign": "center", "font-size": 11, shape: "round-rectangle",
      width: "label", height: 26, padding: "8px", "background-color": "#e8eef7",
      "border-width": 1, "border-color": "#7a8ca8" } },
    { selector: "node.start", style: { "border-width": 3, "border-color": "#1f5fbf" } },
    { selector: "node.end", style: { "background-color": "#dff0df", "border-style": "double",
      "border-width": 4, "border-color": "#3b8a3b" } },
    { selector: "node.unreachable", style: { "background-color": "#fde2e2",
      "border-color": "#c0392b", "border-style": "dashed", "border-width": 2 } },
    { selector: "node.dead-end", style: { "background-color": "#fff1d6",
      "border-color": "#d68910", "border-width": 2 } },
    { selector: "node.invalid", style: { "background-color": "#eee", color: "#888" } },
    { selector: "node.global", style: { shape: "ellipse", "background-color": "#f4f4f4",
      "border-style": "dotted" } },
    { selector: "edge", style: {
      width: 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle",
      label: "data(label)", "font-size": 9, "text-rotation": "autorotate",
      "line-color": "#8a9bb5", "target-arrow-color": "#8a9bb5",
      "text-background-color": "#fff", "text-background-opacity": 0.8 } },
    { selector: "edge.global", style: { "line-style": "dotted" } },
  ];

  function drawGraph(data) {
    const summary = document.getElementById("graph-summary");
    const container = document.getElementById("graph");
    if (data.error) {
      summary.textContent = data.error;
      return;
    }
    const elements = [];
    for (const node of data.nodes) {
      const classes = [];
      if (node.id === "(any state)") classes.push("global");
      else classes.push("state");
      for (const flag of ["start", "end", "unreachable", "invalid"]) if (node[flag]) classes.push(flag);
      if (node.dead_end) classes.push("dead-end");
      elements.push({ group: "nodes", data: { id: node.id }, classes: classes.join(" ") });
    }
    data.edges.forEach((edge, i) => {
      elements.push({ group: "edges", classes: edge.kind,
        data: { id: "e" + i, source: edge.source, target: edge.target, label: edge.label } });
    });
    if (window.callrobotGraph) window.callrobotGraph.destroy();
    const cy = window.cytoscape({ container, elements, style: cyStyle,
      layout: { name: "dagre", rankDir: "TB", nodeSep: 20, rankSep: 40 },
      wheelSensitivity: 0.3, maxZoom: 1.6 });
    window.callrobotGraph = cy;
    const states = data.nodes.filter((n) => n.id !== "(any state)");
    const count = (flag) => states.filter((n) => n[flag]).length;
    const parts = [states.length + (states.length === 1 ? " state" : " states")];
    if (count("unreachable")) parts.push(count("unreachable") + " unreachable");
    if (count("dead_end")) parts.push(count("dead_end") + " dead end" + (count("dead_end") > 1 ? "s" : ""));
    if (count("invalid")) parts.push(count("invalid") + " invalid");
    summary.textContent = parts.join(", ");
    container.dataset.states = String(states.length);
  }

  async function refreshGraph(text) {
    if (text === graphText) return;
    graphText = text;
    try {
      drawGraph(await postJson("/scripts/graph", text));
    } catch (error) {
      document.getElementById("graph-summary").textContent = "The graph is unavailable.";
    }
  }

  const validator = CM.linter(async (view) => {
    const doc = view.state.doc;
    const text = doc.toString();
    refreshGraph(text);
    let found;
    try {
      found = (await postJson("/scripts/lint", text)).diagnostics;
    } catch (error) {
      return [];
    }
    if (view.state.doc.toString() !== text) return [];
    const diagnostics = found.map((d) => {
      const from = position(doc, d.line, d.column);
      const to = Math.max(from, doc.lineAt(from).to);
      return { from, to, severity: "error", message: d.message, source: "line " + d.line };
    });
    window.dispatchEvent(new CustomEvent("script-linted", {
      detail: { count: diagnostics.length, lines: found.map((d) => d.line) } }));
    return diagnostics;
  }, { delay: 400 });

  const view = new CM.EditorView({
    parent: document.getElementById("editor"),
    state: CM.EditorState.create({
      doc: source.value,
      extensions: [
        CM.basicSetup, CM.yaml(), CM.lintGutter(), validator,
        CM.EditorView.contentAttributes.of({ "aria-label": "Script YAML" }),
      ],
    }),
  });
  window.callrobotEditor = view;
  form.addEventListener("submit", () => {
    source.value = view.state.doc.toString();
  });
  CM.forceLinting(view);
})();
