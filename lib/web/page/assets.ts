// The page's files, embedded in the binary as text (bun build --compile bundles text imports):
// nothing is read from disk next to the binary, nothing is fetched from the internet.
import PAGE_CSS from "./app.css" with { type: "text" };
import PAGE_JS from "./app.js" with { type: "text" };
import PAGE_HTML from "./index.html" with { type: "text" };

/** bun-types types *.html imports as bundles; `with { type: "text" }` makes this one its text. */
const PAGE_HTML_TEXT = String(PAGE_HTML);

export { PAGE_CSS, PAGE_HTML_TEXT as PAGE_HTML, PAGE_JS };
