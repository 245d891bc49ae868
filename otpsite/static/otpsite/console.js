// The staff console's own behaviour, from a file rather than inline handlers, which the
// Content-Security-Policy refuses: data-select-on-click selects a field's text, data-print prints the page.
document.addEventListener("click", (event) => {
  const field = event.target.closest("[data-select-on-click]");
  if (field) field.select();
  if (event.target.closest("[data-print]")) window.print();
});
