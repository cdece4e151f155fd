// Types of the page files imported `with { type: "text" }`: their text.
declare module "*.css" {
  const text: string;
  export default text;
}
