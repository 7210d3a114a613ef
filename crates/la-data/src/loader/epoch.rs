//! One pass over the data: a background thread fills a bounded channel with batches.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

use super::batch::Batch;
use super::worker::Shared;
use crate::seed::LoaderStream;

/// The batches of one epoch, in order; an iterator of `Result<Batch>`. Made by
/// [`Loader::epoch`](crate::Loader::epoch).
///
/// A background thread loads batches ahead of the consumer, at most `prefetch` finished
/// batches ahead. In strict mode the first error ends the epoch. Dropping the iterator stops
/// the thread after the batch it is working on.
#[derive(Debug)]
pub struct Epoch {
    rx: Option<Receiver<Result<Batch>>>,
    worker: Option<JoinHandle<()>>,
    remaining: usize,
}

impl Epoch {
    pub(crate) fn start(shared: Arc<Shared>, order: Vec<usize>, epoch: u64) -> Self {
        let (tx, rx) = sync_channel(shared.config.prefetch.unwrap_or(0));
        let (batch_size, drop_last) = (shared.config.batch_size, shared.config.drop_last);
        let remaining = if drop_last {
            order.len() / batch_size
        } else {
            order.len().div_ceil(batch_size)
        };
        let worker = std::thread::Builder::new()
            .name("la-data-prefetch".into())
            .spawn(move || produce(&shared, &order, epoch, batch_size, drop_last, &tx));
        match worker {
            Ok(worker) => Epoch {
                rx: Some(rx),
                worker: Some(worker),
                remaining,
            },
            Err(e) => {
                // No thread: the epoch yields the error once.
                let (tx, rx) = sync_channel(1);
                let _ = tx.send(Err(Error::ThreadPool {
                    threads: 1,
                    reason: e.to_string(),
                }));
                Epoch {
                    rx: Some(rx),
                    worker: None,
                    remaining: 1,
                }
            }
        }
    }
}

fn produce(
    shared: &Shared,
    order: &[usize],
    epoch: u64,
    batch_size: usize,
    drop_last: bool,
    tx: &SyncSender<Result<Batch>>,
) {
    let seed = shared.config.seed;
    for items in order.chunks(batch_size) {
        if drop_last && items.len() < batch_size {
            break;
        }
        let result = shared.batch(items, |i, v| LoaderStream::Item(i, v).seed(seed, epoch));
        let stop = result.is_err();
        let sent = match result.transpose() {
            Some(r) => tx.send(r).is_ok(),
            None => true, // every item was skipped; nothing to send
        };
        if stop || !sent {
            break;
        }
    }
}

impl Iterator for Epoch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Self::Item> {
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(batch) => {
                self.remaining = self.remaining.saturating_sub(1);
                Some(batch)
            }
            Err(_) => {
                self.rx = None;
                let panicked = self.worker.take().is_some_and(|w| w.join().is_err());
                panicked.then_some(Err(Error::LoaderStopped))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.rx {
            Some(_) => (0, Some(self.remaining + 1)),
            None => (0, Some(0)),
        }
    }
}

impl Drop for Epoch {
    fn drop(&mut self) {
        // Closing the channel makes the worker's next send fail, which ends it.
        self.rx = None;
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}
