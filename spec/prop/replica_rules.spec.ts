// spec/prop/replica_rules.spec.ts: the rule book keeps every invariant, whatever it is fed.
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { brokenInvariants } from "../../lib/replica/invariants.ts";
import { applyChange } from "../../lib/replica/rules.ts";
import { State } from "../../lib/replica/state.ts";
import { describeChange, intentArb, resolveIntent } from "../helpers/replica_arbitraries.ts";

const FC_RUNS = Number(process.env.FC_RUNS ?? 1000);

describe("applyChange", () => {
  // A tracker holding an op but not its causal predecessors (a gap in an origin's numbering)
  // replays it against a state its author never saw; the start-up self-check must still pass.
  // Fitted intents make long valid histories, given and stale ones arbitrary changes among them.
  test("keeps every invariant for any sequence of changes, causally possible or not", () => {
    fc.assert(
      fc.property(fc.array(intentArb, { maxLength: 100, size: "max" }), (intents) => {
        const state = new State();
        const done: string[] = [];
        for (const intent of intents) {
          const change = resolveIntent(intent, state);
          const outcome = applyChange(state, change, true);
          done.push(`${describeChange(change)}${outcome.ok ? "" : " refused"}`);
          expect({ done, broken: brokenInvariants(state) }).toEqual({ done, broken: [] });
        }
      }),
      { numRuns: FC_RUNS, includeErrorInReport: true },
    );
  }, 120_000);
});
