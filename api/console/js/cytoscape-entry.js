// cytoscape with the dagre layout registered, exposed as window.cytoscape.
import cytoscape from "cytoscape";
import dagre from "cytoscape-dagre";

cytoscape.use(dagre);
window.cytoscape = cytoscape;
