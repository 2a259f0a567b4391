"""Who is who: tokens and their secret, sign-ins and signing out (DESIGN.md, "Target layout": ``auth/``)."""
