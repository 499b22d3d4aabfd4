/** The yardstick: a bare Fastify JSON route, no auth, no store (bench only). */
import Fastify from "fastify";

const app = Fastify({ logger: false });
app.get("/hello", async () => ({ hello: "world" }));
const address = await app.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1" });
process.stdout.write(`LISTENING ${address}\n`);
