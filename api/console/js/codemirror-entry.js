// The editor parts the console uses, exposed as window.CallrobotCodeMirror.
import { basicSetup } from "codemirror";
import { EditorView } from "@codemirror/view";
import { EditorState } from "@codemirror/state";
import { yaml } from "@codemirror/lang-yaml";
import { linter, lintGutter, forceLinting, diagnosticCount } from "@codemirror/lint";

window.CallrobotCodeMirror = {
  basicSetup,
  EditorView,
  EditorState,
  yaml,
  linter,
  lintGutter,
  forceLinting,
  diagnosticCount,
};
