// Renders chat templates with @huggingface/jinja (the renderer of transformers.js): the reference the
// C# renderer is held to. Usage: node render-templates.js <path of the unpacked @huggingface/jinja package>
// Reads a JSON array of {template, variables} from stdin; writes a JSON array of {text} or {error}.
const path = require("path");
const { Template } = require(path.join(process.argv[2], "dist", "index.cjs"));

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map(({ template, variables }) => {
    try {
      return { text: new Template(template).render(variables) };
    } catch (e) {
      return { error: String(e.message) };
    }
  });
  process.stdout.write(JSON.stringify(results));
});
