"""The delivery process (`riskapi worker`): fans events out to subscriptions, delivers them signed, raises reviews
that fall due and purges expired events. Importable without the web application."""
