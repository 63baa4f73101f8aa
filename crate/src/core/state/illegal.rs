//! Refusals: the [`Error::IllegalTransition`] an input gets when it does not fit the task's state.

use crate::core::error::{Error, Result};
use crate::core::task::{State, Task};

pub(super) fn require(task: &Task, input: &str, state: State, why: &str) -> Result<()> {
    if task.state == state {
        Ok(())
    } else {
        Err(illegal(task, input, why))
    }
}

pub(crate) fn illegal(task: &Task, input: &str, reason: &str) -> Error {
    Error::IllegalTransition {
        task_id: task.id.clone(),
        state: task.state,
        attempt: task.attempt,
        input: input.to_string(),
        reason: reason.to_string(),
    }
}
