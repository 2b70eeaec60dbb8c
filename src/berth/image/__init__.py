"""Image operations above the store: import, bootstrap, and the views docker users know."""
