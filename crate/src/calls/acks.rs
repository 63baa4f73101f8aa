//! Acknowledgements of heard events, written together: pages acknowledge as their listeners run, one
//! message per delivery, and while one acknowledgement transaction runs the ones that arrive wait and
//! share the next. Under load (events of many uploads arriving at once) that is one transaction where
//! there were dozens, each queued in the store before the uploads' own.

use crate::core::Error;
use crate::web::js::{self, Reply};
use crate::web::store::Store;
use std::cell::{Cell, RefCell};

/// One call's events (tag, seq) and where its answer goes.
type Waiting = (Vec<(String, u64)>, Reply<Result<(), Error>>);

thread_local! {
    /// Acknowledgements waiting for the next transaction.
    static WAITING: RefCell<Vec<Waiting>> = const { RefCell::new(Vec::new()) };
    /// An acknowledgement transaction is running.
    static RUNNING: Cell<bool> = const { Cell::new(false) };
}

/// Drops the tag's events `seqs` from the outbox, in the next acknowledgement transaction.
pub(super) async fn ack_each(store: &Store, tag: &str, seqs: Vec<u64>) -> Result<(), Error> {
    let (answer, answered) = js::reply();
    let events = seqs.into_iter().map(|seq| (tag.to_string(), seq)).collect();
    WAITING.with(|w| w.borrow_mut().push((events, answer)));
    if !RUNNING.with(|r| r.replace(true)) {
        let store = store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            loop {
                let batch = WAITING.with(|w| std::mem::take(&mut *w.borrow_mut()));
                if batch.is_empty() {
                    break;
                }
                let (events, answers): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                let all: Vec<(String, u64)> = events.into_iter().flatten().collect();
                let done = store.ack_each(&all).await;
                for answer in answers {
                    answer.send(done.clone());
                }
            }
            RUNNING.with(|r| r.set(false));
        });
    }
    answered.wait().await.unwrap_or_else(|| {
        Err(Error::Storage {
            op: "ack".into(),
            message: "no answer from the acknowledgement transaction".into(),
        })
    })
}
