// app.js is the page's script, imported `with { type: "text" }` by assets.ts: its text.
declare const text: string;
export default text;
