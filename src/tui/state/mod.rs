//! The state of each tab, next to the update logic that belongs to it. `app.rs` owns the
//! [`App`](super::app::App) that holds them and dispatches actions and events.

pub mod compare;
pub mod data;
pub mod explorer;
pub mod kshot;
pub mod runs;
pub mod sweeps;
pub mod train;

/// The next (or previous) value of a fixed list of choices, clamped at both ends.
pub fn step_in<T: PartialEq + Copy>(list: &[T], cur: T, up: bool) -> T {
    let i = list.iter().position(|v| *v == cur).unwrap_or(0);
    let j = if up {
        (i + 1).min(list.len() - 1)
    } else {
        i.saturating_sub(1)
    };
    list[j]
}

/// [`step_in`] for floats; a value not in the list steps from the nearest one above it.
pub fn step_f64(list: &[f64], cur: f64, up: bool) -> f64 {
    let i = list
        .iter()
        .position(|v| (*v - cur).abs() < 1e-12)
        .unwrap_or_else(|| list.iter().position(|v| *v > cur).unwrap_or(list.len() - 1));
    let j = if up {
        (i + 1).min(list.len() - 1)
    } else {
        i.saturating_sub(1)
    };
    list[j]
}
