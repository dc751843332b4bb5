"""Who may act: users, roles and tokens, and a terminal's login confirmed in the browser."""
