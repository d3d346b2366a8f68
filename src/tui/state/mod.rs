//! The state of each tab, next to the update logic that belongs to it. `app.rs` owns the
//! [`App`](super::app::App) that holds them and dispatches actions and events.

pub mod compare;
pub mod data;
pub mod explorer;
pub mod kshot;
pub mod runs;
pub mod sweeps;
pub mod train;

/// A text prompt's answer to one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptKey {
    /// Still typing (or a key the prompt ignores).
    Editing,
    /// Esc: closed, nothing submitted.
    Closed,
    /// Enter: closed with this text (trimmed).
    Submitted(String),
}

/// One key in an open prompt: characters are typed, Backspace deletes, Esc closes, Enter
/// submits; the prompt (`None` when closed) is updated in place.
pub fn prompt_key(prompt: &mut Option<String>, code: crossterm::event::KeyCode) -> PromptKey {
    use crossterm::event::KeyCode;
    let Some(text) = prompt.as_mut() else {
        return PromptKey::Closed;
    };
    match code {
        KeyCode::Char(c) => text.push(c),
        KeyCode::Backspace => {
            text.pop();
        }
        KeyCode::Esc => {
            *prompt = None;
            return PromptKey::Closed;
        }
        KeyCode::Enter => {
            let typed = text.trim().to_string();
            *prompt = None;
            return PromptKey::Submitted(typed);
        }
        _ => {}
    }
    PromptKey::Editing
}

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
