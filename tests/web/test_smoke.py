from tests.web.support import Stack


async def test_health(stack: Stack) -> None:
    async with stack.client() as http:
        async with http.get("/healthz") as r:
            assert r.status == 200
        async with http.get("/readyz") as r:
            print(await r.text())
            assert r.status == 200
        async with http.get("/metrics") as r:
            print(await r.text())
        async with http.get("/api/v1/openapi.json") as r:
            assert r.status == 200
