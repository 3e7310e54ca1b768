//! The safety contract of `Var`, marks and tapes: a variable is usable exactly while the
//! statement it was created as is on its tape. Variables of another tape, of a cleared
//! recording, or dropped by a reset are refused with one message; marks likewise.

use proptest::prelude::*;
use retrograd::prelude::*;
use retrograd::{Adjoints, Mark, Tape};
use std::panic::{catch_unwind, AssertUnwindSafe};

const REFUSED: &str = "was used with recording";

thread_local! {
    static EXPECTING_PANIC: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The file of the last expected panic's location.
    static PANIC_FILE: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The message of the panic `f` must raise (not printed: many are expected here).
fn panic_message(f: impl FnOnce()) -> String {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !EXPECTING_PANIC.with(|e| e.get()) {
                default(info);
            } else if let Some(location) = info.location() {
                PANIC_FILE.with(|f| *f.borrow_mut() = location.file().to_string());
            }
        }));
    });
    EXPECTING_PANIC.with(|e| e.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    EXPECTING_PANIC.with(|e| e.set(false));
    let err = result.expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap()
}

/// Runs `f`, expecting the refusal of a stale or foreign variable.
fn assert_refused(f: impl FnOnce()) {
    let message = panic_message(f);
    assert!(message.contains(REFUSED), "{message}");
}

#[test]
fn a_variable_dropped_by_a_reset_is_refused_not_aliased() {
    // The reset frees slot 2; `y` is recorded there. Using the old `stale` would have read
    // `y`'s adjoint.
    let mut tape = Tape::new();
    tape.record(|rec| {
        let x = rec.input(2.0);
        let w = rec.input(3.0);
        let m = rec.mark();
        let stale = x * w;
        rec.reset(m);
        let y = x * (w + 2.0);
        assert_eq!(stale.index(), y.index());
        assert_refused(|| {
            let _ = stale + y;
        });
        // An operation on the stale variable alone records nothing; its result is refused
        // where it would be recorded or read.
        let derived = stale.sin();
        assert_refused(|| {
            let _ = derived * x;
        });
        assert_refused(|| {
            let _ = rec.adjoints().wrt(derived);
        });
        assert_refused(|| {
            let _ = retrograd::sum(&[y, stale]);
        });
    });
}

#[test]
fn a_refused_operation_is_reported_at_the_callers_line() {
    let mut tape = Tape::new();
    tape.record(|rec| {
        let x = rec.input(1.0);
        let w = rec.input(2.0);
        let m = rec.mark();
        let stale = x * w;
        rec.reset(m);
        let uses: [&dyn Fn(); 4] = [
            &|| {
                let _ = stale * x;
            },
            &|| {
                let _ = x + stale;
            },
            &|| {
                let _ = stale.exp() * w;
            },
            &|| {
                let _ = retrograd::dot(&[x, stale], &[x, x]);
            },
        ];
        for f in uses {
            assert_refused(f);
            let file = PANIC_FILE.with(|f| f.borrow().clone());
            assert!(file.ends_with("scalar_safety.rs"), "reported at {file}");
        }
    });
}

#[test]
fn a_stale_index_past_the_end_of_the_tape_is_refused_before_it_is_recorded() {
    // Before the fix, the reverse sweep wrote the adjoint of `far` past the end of its
    // buffer. Now the operation is refused and nothing is recorded.
    let mut tape = Tape::new();
    let (x, y) = tape.record(|rec| {
        let x = rec.input(1.5);
        let w = rec.input(1.0);
        let m = rec.mark();
        let mut far = x;
        for _ in 0..100_000 {
            far *= w;
        }
        rec.reset(m);
        let before = rec.mark();
        assert_refused(|| {
            let _ = far * x;
        });
        assert_eq!(rec.mark(), before);
        (x, x * 3.0)
    });
    assert_eq!(tape.stats().statements, 2); // x and w; y is derived from x
    assert_eq!(tape.gradient(y).wrt(x), 3.0);
}

#[test]
fn sweeps_and_adjoints_refuse_stale_seeds_and_queries() {
    let mut tape = Tape::new();
    let (x, stale, adj) = tape.record(|rec| {
        let x = rec.input(2.0);
        let w = rec.input(1.0);
        let m = rec.mark();
        let stale = (x * w).exp(); // derived from the statement x·w
        let mut adj = rec.adjoints();
        rec.sweep_and_reset(m, &[(stale, 1.0)], &mut adj);
        assert!((adj.wrt(x) - 2.0_f64.exp()).abs() < 1e-15);
        let m = rec.mark();
        let _reused = x * w; // takes the slot of x·w
        assert_refused(|| rec.sweep_and_reset(m, &[(stale, 1.0)], &mut adj.clone()));
        (x, stale, adj)
    });
    assert_refused(|| {
        adj.wrt(stale);
    });
    assert_refused(|| {
        tape.gradient(stale);
    });
    assert_eq!(tape.gradient(x).wrt(x), 1.0);
}

#[test]
fn variables_before_a_mark_stay_valid_across_many_resets() {
    let mut tape = Tape::new();
    let (x, y, total) = tape.record(|rec| {
        let x = rec.input(0.5);
        let mut total = Var::constant(0.0);
        for k in 1..=50 {
            let m = rec.mark();
            let _trial = (x * k as f64).sin().exp(); // tried, then dropped
            rec.reset(m);
            total += x * k as f64; // kept: mixes x (first epoch) and `total` (a later one)
        }
        let y = x.exp();
        (x, y, total)
    });
    assert_eq!(tape.gradient(total).wrt(x), (1..=50).sum::<i32>() as f64);
    assert_eq!(tape.gradient(y).wrt(x), 0.5_f64.exp());
}

/// Marks start epochs: with many marks and no reset, the variables of every epoch stay
/// usable (those of neither the first nor the current epoch through the full check), and
/// the gradient is the one recorded without marks.
#[test]
fn marks_without_resets_leave_every_variable_usable() {
    fn f(x: Var, marks: Option<&retrograd::Recorder<'_, f64>>) -> Var {
        let mut vars = vec![x];
        for k in 0..20 {
            if let Some(rec) = marks {
                rec.mark();
            }
            let v = *vars.last().unwrap() * vars[vars.len() / 2] + k as f64;
            vars.push(v);
        }
        // Every epoch's variables, mixed with the current one's and the first one's.
        vars.iter().fold(x, |s, &v| s + v * vars[3]).sin()
    }
    let gradient = |with_marks: bool| {
        let mut tape = Tape::new();
        let (x, y) = tape.record(|rec| {
            let x = rec.input(0.3);
            (x, f(x, with_marks.then_some(rec)))
        });
        tape.gradient(y).wrt(x)
    };
    let (plain, marked) = (gradient(false), gradient(true));
    assert!(plain.is_finite() && plain != 0.0);
    assert_eq!(plain.to_bits(), marked.to_bits());
}

#[test]
fn marks_can_be_reused_but_not_after_an_earlier_reset_dropped_their_past() {
    let mut tape = Tape::new();
    tape.record(|rec| {
        let x = rec.input(1.0);
        let w = rec.input(2.0);
        let start = rec.mark();
        let y = x * w;
        let after_y = rec.mark();
        for _ in 0..3 {
            let _ = y.sin() * w;
            rec.reset(after_y); // the same mark, many times
        }
        rec.reset(start); // drops y
        let _z = x * (w + 1.0); // re-records the slot of y
        let message = panic_message(|| rec.reset(after_y));
        assert!(message.contains("mark"), "{message}");
        rec.reset(start); // still valid: nothing before it changed
    });
    let mut other: Tape = Tape::new();
    let foreign: Mark = other.record(|rec| rec.mark());
    let message = panic_message(|| tape.record(|rec| rec.reset(foreign)));
    assert!(message.contains("mark"), "{message}");
}

#[test]
fn adjoints_kept_across_resets_drop_the_statements_a_reset_dropped() {
    let mut tape = Tape::new();
    tape.record(|rec| {
        let x = rec.input(1.0);
        let a = rec.input(2.0);
        let start = rec.mark();
        let y = x * a;
        let m = rec.mark();
        let mut adj = rec.adjoints();
        let z = y * (a + 1.0);
        rec.sweep_and_reset(m, &[(z, 1.0)], &mut adj);
        assert_eq!(adj.wrt(y), 3.0);
        rec.reset(start); // drops y; its adjoint must not reach the variable taking its slot
        let w = x * (a + 2.0);
        assert_eq!(w.index(), y.index());
        let m = rec.mark();
        let v = w * 5.0 + 1.0; // derived from w: the seed reaches w times 5
        rec.sweep_and_reset(m, &[(v, 1.0)], &mut adj);
        assert_eq!(adj.wrt(w), 5.0);
        assert_refused(|| {
            adj.wrt(y);
        });
    });
}

#[test]
fn variables_of_nested_tapes_and_other_threads_are_refused() {
    let mut outer = Tape::new();
    outer.record(|rec| {
        let x = rec.input(1.0);
        let mut inner = Tape::new();
        let inner_var = inner.record(|r| {
            let z = r.input(2.0);
            assert_refused(|| {
                let _ = z * x; // x is not on the active (inner) tape
            });
            z
        });
        assert_refused(|| {
            let _ = inner_var + x;
        });
        let from_thread = std::thread::spawn(move || {
            let mut tape = Tape::new();
            tape.record(|r| {
                let t = r.input(3.0);
                assert_refused(|| {
                    let _ = t + x;
                });
                t
            })
        })
        .join()
        .unwrap();
        assert_refused(|| {
            let _ = from_thread * x;
        });
    });
}

/// A step of a random program run against the tape and against a model of it.
#[derive(Clone, Debug)]
enum Step {
    Input(f64),
    /// An operation on two earlier variables (picked by these numbers), alive or not.
    Binary(usize, usize),
    Unary(usize),
    Sum(usize, usize),
    Mark,
    /// Reset to one of the marks made so far.
    Reset(usize),
    /// Sweep a variable into the accumulated adjoints, and reset to a mark.
    SweepAndReset(usize, usize),
    /// End the recording; clear the tape (true) or continue it in the next recording.
    EndRecording(bool),
    /// Use a variable on a nested tape.
    Nested(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (-2.0..2.0f64).prop_map(Step::Input),
        4 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Step::Binary(a, b)),
        2 => any::<usize>().prop_map(Step::Unary),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Step::Sum(a, b)),
        2 => Just(Step::Mark),
        2 => any::<usize>().prop_map(Step::Reset),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Step::SweepAndReset(a, b)),
        1 => any::<bool>().prop_map(Step::EndRecording),
        1 => any::<usize>().prop_map(Step::Nested),
    ]
}

/// How a variable was computed, from earlier variables (by their number).
#[derive(Clone, Copy, Debug)]
enum Op {
    Input,
    Mul(usize, usize),
    Sin(usize),
    Add(usize, usize),
}

/// The model: every variable made so far, and which statement each tape position holds.
struct Model {
    vars: Vec<(Var, Op)>,
    /// For each variable, the variable whose statement it has: itself for a node, the
    /// node it was derived from for the result of an operation on one variable.
    base: Vec<usize>,
    /// The variable recorded at each position of the tape.
    positions: Vec<usize>,
    /// Marks: the tape mark, its position, and the variable before it (None at 0).
    marks: Vec<(Mark, usize, Option<usize>)>,
    /// Adjoints accumulated by sweeps on the tape, and the model's (by variable).
    adjoints: Option<Adjoints>,
    expected: Vec<f64>,
}

impl Model {
    fn alive(&self, v: usize) -> bool {
        let b = self.base[v];
        let index = self.vars[b].0.index() as usize;
        self.positions.get(index) == Some(&b)
    }

    fn is_node(&self, v: usize) -> bool {
        self.base[v] == v
    }

    fn mark_valid(&self, k: usize) -> bool {
        let (_, position, before) = self.marks[k];
        position <= self.positions.len() && before.is_none_or(|v| self.positions[position - 1] == v)
    }

    /// Drops positions `position..`: their variables die, and with them their adjoints.
    fn truncate(&mut self, position: usize) {
        self.positions.truncate(position);
        for v in 0..self.expected.len() {
            if !self.alive(v) {
                self.expected[v] = 0.0;
            }
        }
    }

    /// Reverse-mode derivatives of variable `y` with respect to every variable.
    fn adjoints_of(&self, y: usize) -> Vec<f64> {
        let mut adj = vec![0.0; self.vars.len()];
        adj[y] = 1.0;
        self.sweep(&mut adj, 0);
        adj
    }

    /// A reverse sweep of the variables alive at positions `from..` (earlier ones receive
    /// adjoints but pass none on). A derived variable has no position: it passes its
    /// adjoint on to its operand at once (the tape folds it into its consumers' partials)
    /// and keeps none.
    fn sweep(&self, adj: &mut [f64], from: usize) {
        for v in (0..self.vars.len()).rev() {
            let before = self.is_node(v) && (self.vars[v].0.index() as usize) < from;
            if !self.alive(v) || before || adj[v] == 0.0 {
                continue;
            }
            let a = adj[v];
            if !self.is_node(v) {
                adj[v] = 0.0;
            }
            match self.vars[v].1 {
                Op::Input => {}
                Op::Mul(p, q) => {
                    adj[p] += a * self.vars[q].0.value();
                    adj[q] += a * self.vars[p].0.value();
                }
                Op::Sin(p) => adj[p] += a * self.vars[p].0.value().cos(),
                Op::Add(p, q) => {
                    adj[p] += a;
                    adj[q] += a;
                }
            }
        }
    }

    /// Records an operation on variables `operands` (of op `op`), or checks its refusal.
    /// An operation (other than a sum) whose operands have one statement records nothing and
    /// is never refused: its result is, where it is used.
    fn operate(&mut self, rec_len: usize, operands: &[usize], op: Op, f: impl FnOnce() -> Var) {
        let base = self.base[operands[0]];
        let one_statement = operands.iter().all(|&v| self.base[v] == base);
        if one_statement && !matches!(op, Op::Add(..)) {
            let result = f();
            assert!(!result.is_node());
            assert_eq!(result.index(), self.vars[base].0.index());
            self.base.push(base);
            self.vars.push((result, op));
        } else if operands.iter().all(|&v| self.alive(v)) {
            let result = f();
            assert!(result.is_node());
            assert_eq!(result.index() as usize, rec_len);
            self.positions.push(self.vars.len());
            self.base.push(self.vars.len());
            self.vars.push((result, op));
        } else {
            assert_refused(|| {
                f();
            });
        }
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs()))
}

proptest! {
    /// Random programs of records, operations, marks, resets, sweeps, clears and nested
    /// tapes: every use of a stale or foreign variable or mark is refused, and every
    /// accepted gradient equals the model's.
    #[test]
    fn every_stale_use_is_refused_and_every_gradient_is_right(
        steps in proptest::collection::vec(step(), 1..120)
    ) {
        let mut tape: Tape = Tape::with_capacity(0, 0);
        let mut model = Model {
            vars: Vec::new(),
            base: Vec::new(),
            positions: Vec::new(),
            marks: Vec::new(),
            adjoints: None,
            expected: Vec::new(),
        };
        let mut steps = steps.into_iter().peekable();
        while steps.peek().is_some() {
            let clear = tape.record(|rec| {
                for s in steps.by_ref() {
                    let n = model.vars.len();
                    let len = model.positions.len();
                    match s {
                        Step::Input(v) => {
                            let x = rec.input(v);
                            model.positions.push(n);
                            model.base.push(n);
                            model.vars.push((x, Op::Input));
                        }
                        Step::Binary(a, b) if n > 0 => {
                            let (a, b) = (a % n, b % n);
                            let (va, vb) = (model.vars[a].0, model.vars[b].0);
                            if (va.value() * vb.value()).abs() > 1e6 {
                                continue; // keep values finite
                            }
                            model.operate(len, &[a, b], Op::Mul(a, b), || va * vb);
                        }
                        Step::Unary(a) if n > 0 => {
                            let a = a % n;
                            let va = model.vars[a].0;
                            model.operate(len, &[a], Op::Sin(a), || va.sin());
                        }
                        Step::Sum(a, b) if n > 0 => {
                            let (a, b) = (a % n, b % n);
                            let (va, vb) = (model.vars[a].0, model.vars[b].0);
                            model.operate(len, &[a, b], Op::Add(a, b), || retrograd::sum(&[va, vb]));
                        }
                        Step::Mark => {
                            let before = model.positions.last().copied();
                            model.marks.push((rec.mark(), model.positions.len(), before));
                        }
                        Step::Reset(k) if !model.marks.is_empty() => {
                            let k = k % model.marks.len();
                            let (m, position, _) = model.marks[k];
                            if model.mark_valid(k) {
                                rec.reset(m);
                                model.truncate(position);
                            } else {
                                panic_message(|| rec.reset(m));
                            }
                        }
                        Step::SweepAndReset(y, k) if n > 0 && !model.marks.is_empty() => {
                            let (y, k) = (y % n, k % model.marks.len());
                            let (m, position, _) = model.marks[k];
                            let mut adj = model.adjoints.take().unwrap_or_else(|| rec.adjoints());
                            model.expected.resize(n, 0.0);
                            let seed = [(model.vars[y].0, 1.0)];
                            if !model.mark_valid(k) || !model.alive(y) {
                                panic_message(|| rec.sweep_and_reset(m, &seed, &mut adj));
                                model.adjoints = Some(adj);
                                continue;
                            }
                            rec.sweep_and_reset(m, &seed, &mut adj);
                            let mut expected = std::mem::take(&mut model.expected);
                            expected[y] += 1.0;
                            model.sweep(&mut expected, position);
                            model.expected = expected;
                            model.truncate(position);
                            for v in 0..n {
                                let x = model.vars[v].0;
                                if !model.alive(v) {
                                    assert_refused(|| { adj.wrt(x); });
                                } else if model.is_node(v) {
                                    prop_assert!(close(adj.wrt(x), model.expected[v]),
                                        "adjoint of #{v}: {} vs {}", adj.wrt(x), model.expected[v]);
                                } else {
                                    let message = panic_message(|| { adj.wrt(x); });
                                    prop_assert!(message.contains("no statement of its own"), "{message}");
                                }
                            }
                            model.adjoints = Some(adj);
                        }
                        Step::EndRecording(clear) => return Ok(clear),
                        Step::Nested(a) if n > 0 => {
                            let va = model.vars[a % n].0;
                            let mut inner = Tape::new();
                            inner.record(|r| {
                                let z = r.input(1.0);
                                assert_refused(|| { let _ = z + va; });
                            });
                        }
                        _ => {}
                    }
                }
                Ok(false)
            })?;
            // Between recordings: every alive variable's gradient matches the model's.
            let n = model.vars.len();
            for y in (0..n).rev().take(3) {
                if model.alive(y) {
                    let g = tape.gradient(model.vars[y].0);
                    let expected = model.adjoints_of(y);
                    for (v, &e) in expected.iter().enumerate() {
                        if model.alive(v) && model.is_node(v) {
                            prop_assert!(close(g.wrt(model.vars[v].0), e));
                        }
                    }
                } else {
                    assert_refused(|| { tape.gradient(model.vars[y].0); });
                }
            }
            if clear {
                tape.clear();
                model.positions.clear();
                model.marks.clear();
                model.expected.clear();
                if let Some(mut adj) = model.adjoints.take() {
                    let message = tape.record(|rec| {
                        let m = rec.mark();
                        panic_message(|| rec.sweep_and_reset(m, &[], &mut adj))
                    });
                    prop_assert!(message.contains(REFUSED), "{message}");
                }
                for v in 0..n {
                    assert_refused(|| { tape.gradient(model.vars[v].0); });
                }
            }
        }
    }
}

/// The closure API reuses one tape per thread between calls: a variable kept from one call
/// is refused in the next (whose recording has a new id), a call whose function panicked
/// leaves the next one working, and threads have tapes of their own.
#[test]
fn the_closure_apis_reused_tape_refuses_variables_of_earlier_calls() {
    let mut kept = None;
    let g = retrograd::grad(
        |x| {
            kept = Some(x[0] * x[1]);
            x[0] * x[1]
        },
        &[2.0, 3.0],
    );
    assert_eq!(g, vec![3.0, 2.0]);
    let kept = kept.unwrap();
    assert_refused(|| {
        retrograd::grad(|x| x[0] * kept, &[1.0, 1.0]);
    });
    let message = panic_message(|| {
        retrograd::grad(|_| panic!("inside the function"), &[1.0]);
    });
    assert_eq!(message, "inside the function");
    assert_eq!(retrograd::grad(|x| x[0] * x[0], &[3.0]), vec![6.0]);
    let h = retrograd::hessian(|x| x[0] * x[0] * x[1], &[1.0, 2.0]);
    assert_eq!(h, vec![vec![4.0, 2.0], vec![2.0, 0.0]]);

    std::thread::scope(|s| {
        for t in 0..3 {
            s.spawn(move || {
                for k in 0..100 {
                    let x = (t * 100 + k) as f64;
                    assert_eq!(retrograd::grad(|v| v[0] * v[0], &[x]), vec![2.0 * x]);
                }
            });
        }
    });
}
