//! The order in which one stage runs its micro-batches' forwards and backwards.
//!
//! A schedule is a list of actions per stage, computed without any communication: every
//! stage derives its own list from `(stage, stages, micro_batches)`, and the lists fit
//! together because each stage sends activations and gradients in the order its neighbour
//! consumes them.

/// How the micro-batches of one step are ordered on each stage.
///
/// ```
/// use retrograd_mpi::pipeline::Schedule;
/// // GPipe holds every micro-batch's activations until its backwards start;
/// // 1F1B at most as many as there are stages from this one to the last.
/// assert_eq!(Schedule::GPipe.peak_in_flight(0, 2, 8), 8);
/// assert_eq!(Schedule::OneFOneB.peak_in_flight(0, 2, 8), 2);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// All forwards, then all backwards (Huang et al., 2019).
    GPipe,
    /// `stages − stage − 1` warm-up forwards, then one forward and one backward in turn,
    /// then the remaining backwards (PipeDream-Flush, Narayanan et al., 2021): at most
    /// `stages − stage` micro-batches' activations are held at once.
    OneFOneB,
}

/// One unit of a stage's work: the forward or the backward of a micro-batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Forward(usize),
    Backward(usize),
}

impl Schedule {
    /// The actions of `stage` (of `stages`) on a step of `micro_batches`.
    pub(crate) fn actions(self, stage: usize, stages: usize, micro_batches: usize) -> Vec<Action> {
        let m = micro_batches;
        match self {
            Schedule::GPipe => (0..m)
                .map(Action::Forward)
                .chain((0..m).map(Action::Backward))
                .collect(),
            Schedule::OneFOneB => {
                let warm_up = (stages - stage - 1).min(m);
                let mut out: Vec<Action> = (0..warm_up).map(Action::Forward).collect();
                for k in warm_up..m {
                    out.push(Action::Forward(k));
                    out.push(Action::Backward(k - warm_up));
                }
                out.extend((m - warm_up..m).map(Action::Backward));
                out
            }
        }
    }

    /// The most micro-batches whose activations `stage` holds at once (forward done,
    /// backward not yet).
    ///
    /// ```
    /// use retrograd_mpi::pipeline::Schedule;
    /// assert_eq!(Schedule::OneFOneB.peak_in_flight(1, 2, 8), 1); // the last stage
    /// assert_eq!(Schedule::OneFOneB.peak_in_flight(0, 4, 2), 2); // never more than m
    /// ```
    pub fn peak_in_flight(self, stage: usize, stages: usize, micro_batches: usize) -> usize {
        let mut live = 0usize;
        let mut peak = 0;
        for action in self.actions(stage, stages, micro_batches) {
            match action {
                Action::Forward(_) => {
                    live += 1;
                    peak = peak.max(live);
                }
                Action::Backward(_) => live -= 1,
            }
        }
        peak
    }
}

/// The fraction of a step each stage spends idle when every stage takes the same time per
/// micro-batch and communication is free: `(p − 1)/(m + p − 1)` for `p` stages and `m`
/// micro-batches, the same for GPipe and 1F1B.
///
/// ```
/// use retrograd_mpi::pipeline::theoretical_bubble;
/// assert_eq!(theoretical_bubble(2, 1), 0.5);
/// assert!((theoretical_bubble(2, 8) - 1.0 / 9.0).abs() < 1e-15);
/// assert_eq!(theoretical_bubble(1, 4), 0.0);
/// ```
pub fn theoretical_bubble(stages: usize, micro_batches: usize) -> f64 {
    let p = stages as f64;
    let m = micro_batches as f64;
    (p - 1.0) / (m + p - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the stages' action lists against each other in lock step, as the messages
    /// would: a forward needs the previous stage's forward of the same micro-batch, a
    /// backward the next stage's backward (or, on the last stage, its own forward). Returns
    /// the number of time steps, or `None` on a deadlock.
    fn simulate(schedule: Schedule, stages: usize, m: usize) -> Option<usize> {
        let lists: Vec<Vec<Action>> = (0..stages)
            .map(|s| schedule.actions(s, stages, m))
            .collect();
        let mut pos = vec![0usize; stages];
        let mut forward_done = vec![vec![false; m]; stages];
        let mut backward_done = vec![vec![false; m]; stages];
        let mut steps = 0;
        while pos.iter().zip(&lists).any(|(&i, l)| i < l.len()) {
            let mut progressed = Vec::new();
            for s in 0..stages {
                let Some(&action) = lists[s].get(pos[s]) else {
                    continue;
                };
                let ready = match action {
                    Action::Forward(k) => s == 0 || forward_done[s - 1][k],
                    Action::Backward(k) => {
                        forward_done[s][k] && (s + 1 == stages || backward_done[s + 1][k])
                    }
                };
                if ready {
                    progressed.push((s, action));
                }
            }
            if progressed.is_empty() {
                return None;
            }
            for (s, action) in progressed {
                match action {
                    Action::Forward(k) => forward_done[s][k] = true,
                    Action::Backward(k) => backward_done[s][k] = true,
                }
                pos[s] += 1;
            }
            steps += 1;
        }
        Some(steps)
    }

    #[test]
    fn every_micro_batch_runs_forward_then_backward_once() {
        for schedule in [Schedule::GPipe, Schedule::OneFOneB] {
            for stages in 1..5 {
                for m in 1..10 {
                    for stage in 0..stages {
                        let actions = schedule.actions(stage, stages, m);
                        assert_eq!(actions.len(), 2 * m);
                        for k in 0..m {
                            let f = actions.iter().position(|&a| a == Action::Forward(k));
                            let b = actions.iter().position(|&a| a == Action::Backward(k));
                            assert!(
                                f.unwrap() < b.unwrap(),
                                "{schedule:?} {stage}/{stages} m={m}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn schedules_never_deadlock_and_take_the_ideal_time() {
        // With unit-time forwards and backwards, both schedules finish in 2(m + p − 1)
        // steps: the bubble (p − 1)/(m + p − 1) of `theoretical_bubble`.
        for schedule in [Schedule::GPipe, Schedule::OneFOneB] {
            for stages in 1..5 {
                for m in 1..10 {
                    assert_eq!(simulate(schedule, stages, m), Some(2 * (m + stages - 1)));
                    let busy = 2.0 * m as f64;
                    let wall = 2.0 * (m + stages - 1) as f64;
                    assert!((1.0 - busy / wall - theoretical_bubble(stages, m)).abs() < 1e-12);
                }
            }
        }
    }

    #[test]
    fn one_f_one_b_bounds_the_activations_held() {
        for stages in 1..6 {
            for m in 1..12 {
                for stage in 0..stages {
                    let one = Schedule::OneFOneB.peak_in_flight(stage, stages, m);
                    assert_eq!(one, (stages - stage).min(m));
                    assert_eq!(Schedule::GPipe.peak_in_flight(stage, stages, m), m);
                }
            }
        }
    }
}
