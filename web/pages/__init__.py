"""Server-rendered HTML pages: email link pages, sign-in, the dashboard."""
