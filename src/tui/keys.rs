//! Every key binding, in one table: the handler looks keys up here and the help overlay
//! lists this table, so the two cannot drift apart (a test checks both directions).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Action, Tab};

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere (unless a dialog is open).
    Global,
    /// On one tab.
    Tab(Tab),
    /// In the "quit while training?" dialog.
    QuitDialog,
}

/// One binding.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    /// Keys as shown in help.
    pub keys: &'static str,
    /// The key codes that trigger it.
    pub codes: &'static [KeyCode],
    /// Needs Ctrl.
    pub ctrl: bool,
    /// Where.
    pub scope: Scope,
    /// What it does.
    pub action: Action,
    /// Help text.
    pub help: &'static str,
}

use KeyCode::*;

const fn b(
    keys: &'static str,
    codes: &'static [KeyCode],
    scope: Scope,
    action: Action,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        codes,
        ctrl: false,
        scope,
        action,
        help,
    }
}

/// The table.
pub const BINDINGS: &[Binding] = &[
    b(
        "q",
        &[Char('q')],
        Scope::Global,
        Action::Quit,
        "quit (asks first while training)",
    ),
    Binding {
        keys: "Ctrl-C",
        codes: &[Char('c')],
        ctrl: true,
        scope: Scope::Global,
        action: Action::Quit,
        help: "quit (asks first while training)",
    },
    b(
        "?",
        &[Char('?')],
        Scope::Global,
        Action::ToggleHelp,
        "show / hide this help",
    ),
    b(
        "Tab",
        &[KeyCode::Tab],
        Scope::Global,
        Action::NextTab,
        "next tab",
    ),
    b(
        "Shift-Tab",
        &[BackTab],
        Scope::Global,
        Action::PrevTab,
        "previous tab",
    ),
    b("1", &[Char('1')], Scope::Global, Action::GoData, "Data tab"),
    b(
        "2",
        &[Char('2')],
        Scope::Global,
        Action::GoTrain,
        "Train tab",
    ),
    b(
        "3",
        &[Char('3')],
        Scope::Global,
        Action::GoKShot,
        "K-shot tab",
    ),
    b("4", &[Char('4')], Scope::Global, Action::GoRuns, "Runs tab"),
    b(
        "5",
        &[Char('5')],
        Scope::Global,
        Action::GoSweeps,
        "Sweeps tab",
    ),
    b(
        "t",
        &[Char('t')],
        Scope::Global,
        Action::CycleTheme,
        "next theme",
    ),
    b(
        "↑ / k",
        &[Up, Char('k')],
        Scope::Global,
        Action::Up,
        "move up (field, row)",
    ),
    b(
        "↓ / j",
        &[Down, Char('j')],
        Scope::Global,
        Action::Down,
        "move down (field, row)",
    ),
    b(
        "← / h",
        &[Left, Char('h')],
        Scope::Global,
        Action::Left,
        "decrease / previous value",
    ),
    b(
        "→ / l",
        &[Right, Char('l')],
        Scope::Global,
        Action::Right,
        "increase / next value",
    ),
    b(
        "F5",
        &[F(5)],
        Scope::Tab(Tab::Data),
        Action::Rescan,
        "rescan both datasets",
    ),
    b(
        "s",
        &[Char('s')],
        Scope::Tab(Tab::Train),
        Action::Start,
        "start training with the form's settings",
    ),
    b(
        "L",
        &[Char('L')],
        Scope::Tab(Tab::Train),
        Action::ToggleLogY,
        "logarithmic / linear loss axis",
    ),
    b(
        ">",
        &[Char('>')],
        Scope::Tab(Tab::Train),
        Action::Smoother,
        "more smoothing of the loss curves",
    ),
    b(
        "<",
        &[Char('<')],
        Scope::Tab(Tab::Train),
        Action::Rougher,
        "less smoothing of the loss curves",
    ),
    b(
        "x",
        &[Char('x')],
        Scope::Tab(Tab::Train),
        Action::Stop,
        "stop after this epoch (checkpoint kept)",
    ),
    b(
        "o",
        &[Char('o')],
        Scope::Tab(Tab::Train),
        Action::Overlay,
        "show / hide the overlay (runs marked on the Runs tab, or a sweep's jobs)",
    ),
    b(
        "c",
        &[Char('c')],
        Scope::Tab(Tab::Train),
        Action::NextMetric,
        "overlay: next curve (loss per step, train / val loss, train / val accuracy)",
    ),
    b(
        "g",
        &[Char('g')],
        Scope::Tab(Tab::Train),
        Action::SeedBands,
        "overlay: runs differing only in seed as mean ± sd band / one line per run",
    ),
    b(
        "b",
        &[Char('b')],
        Scope::Tab(Tab::Train),
        Action::Baseline,
        "pin / unpin the run shown as the baseline (stays drawn)",
    ),
    b(
        "p",
        &[Char('p')],
        Scope::Tab(Tab::KShot),
        Action::Prepare,
        "load checkpoint and embed the target (once)",
    ),
    b(
        "r / Space",
        &[Char('r'), Char(' ')],
        Scope::Tab(Tab::KShot),
        Action::Draw,
        "draw the next support set of the bank",
    ),
    b(
        "a",
        &[Char('a')],
        Scope::Tab(Tab::KShot),
        Action::DrawAll,
        "draw the rest of the bank",
    ),
    b(
        "w",
        &[Char('w')],
        Scope::Tab(Tab::KShot),
        Action::Sweep,
        "accuracy-vs-k sweep (1,2,3,5,10,20)",
    ),
    b(
        "n",
        &[Char('n')],
        Scope::Tab(Tab::KShot),
        Action::NextNormalization,
        "next embedding normalisation (same draws)",
    ),
    b(
        "m",
        &[Char('m')],
        Scope::Tab(Tab::KShot),
        Action::NextMethod,
        "next classifier: prototype, logistic, soft-kmeans (same draws)",
    ),
    b(
        "v",
        &[Char('v')],
        Scope::Tab(Tab::KShot),
        Action::NextTta,
        "test-time augmentation none / dihedral (8 views; same draws once embedded)",
    ),
    b(
        "[",
        &[Char('[')],
        Scope::Tab(Tab::KShot),
        Action::PrevItem,
        "previous support / misclassified cell",
    ),
    b(
        "]",
        &[Char(']')],
        Scope::Tab(Tab::KShot),
        Action::NextItem,
        "next support / misclassified cell",
    ),
    b(
        "z",
        &[Char('z')],
        Scope::Tab(Tab::KShot),
        Action::Zoom,
        "enlarge the selected cell / close it",
    ),
    b(
        "T",
        &[Char('T')],
        Scope::Tab(Tab::KShot),
        Action::UseSavedTarget,
        "score on the target the run's saved results used",
    ),
    b(
        "Esc",
        &[Esc],
        Scope::Tab(Tab::KShot),
        Action::Cancel,
        "close the enlarged cell",
    ),
    b(
        "Space",
        &[Char(' ')],
        Scope::Tab(Tab::Runs),
        Action::Mark,
        "mark / unmark the run for export",
    ),
    b(
        "e",
        &[Char('e')],
        Scope::Tab(Tab::Runs),
        Action::Export,
        "export markdown (marked or selected runs)",
    ),
    b(
        "o",
        &[Char('o')],
        Scope::Tab(Tab::Runs),
        Action::Overlay,
        "overlay the marked runs (or the selected one) on the Train tab",
    ),
    b(
        "b",
        &[Char('b')],
        Scope::Tab(Tab::Runs),
        Action::Baseline,
        "pin / unpin the selected run as the Train tab's baseline",
    ),
    b(
        "R",
        &[Char('R')],
        Scope::Tab(Tab::Runs),
        Action::Resume,
        "resume the selected run (last checkpoint)",
    ),
    b(
        "i",
        &[Char('i')],
        Scope::Tab(Tab::Runs),
        Action::Import,
        "import a PyTorch checkpoint as a new run",
    ),
    b(
        "W",
        &[Char('W')],
        Scope::Tab(Tab::Runs),
        Action::ExportWeights,
        "write the run's weights as safetensors",
    ),
    b(
        "f",
        &[Char('f')],
        Scope::Tab(Tab::Runs),
        Action::Watch,
        "follow the selected run live (Train tab)",
    ),
    b(
        "PgDn",
        &[PageDown],
        Scope::Tab(Tab::Runs),
        Action::NextGroup,
        "Table 1 from its next group (when they do not all fit)",
    ),
    b(
        "PgUp",
        &[PageUp],
        Scope::Tab(Tab::Runs),
        Action::PrevGroup,
        "Table 1 from its previous group",
    ),
    b(
        "F5",
        &[F(5)],
        Scope::Tab(Tab::Runs),
        Action::Rescan,
        "reload the run list",
    ),
    b(
        "n",
        &[Char('n')],
        Scope::Tab(Tab::Sweeps),
        Action::NewSweep,
        "new sweep from the forms, run here",
    ),
    b(
        "s",
        &[Char('s')],
        Scope::Tab(Tab::Sweeps),
        Action::RunSweep,
        "run / resume the selected sweep here",
    ),
    b(
        "p",
        &[Char('p')],
        Scope::Tab(Tab::Sweeps),
        Action::PauseSweep,
        "pause: start no new job",
    ),
    b(
        "x",
        &[Char('x')],
        Scope::Tab(Tab::Sweeps),
        Action::CancelSweep,
        "cancel: trainings save their state",
    ),
    b(
        "[",
        &[Char('[')],
        Scope::Tab(Tab::Sweeps),
        Action::PrevItem,
        "previous sweep",
    ),
    b(
        "]",
        &[Char(']')],
        Scope::Tab(Tab::Sweeps),
        Action::NextItem,
        "next sweep",
    ),
    b(
        "f",
        &[Char('f')],
        Scope::Tab(Tab::Sweeps),
        Action::Watch,
        "follow the sweep's training job (Train tab)",
    ),
    b(
        "o",
        &[Char('o')],
        Scope::Tab(Tab::Sweeps),
        Action::Overlay,
        "overlay the sweep's jobs on the Train tab",
    ),
    b(
        "e",
        &[Char('e')],
        Scope::Tab(Tab::Sweeps),
        Action::Explore,
        "explorer: results table + parallel coordinates (↑↓ job, ←→ sort column) / jobs",
    ),
    b(
        "r",
        &[Char('r')],
        Scope::Tab(Tab::Sweeps),
        Action::ReverseSort,
        "explorer: reverse the sort order",
    ),
    b(
        "/",
        &[Char('/')],
        Scope::Tab(Tab::Sweeps),
        Action::Filter,
        "explorer: filter, e.g. objective=aam* val>0.8 (Enter applies, Esc closes)",
    ),
    b(
        "F5",
        &[F(5)],
        Scope::Tab(Tab::Sweeps),
        Action::Rescan,
        "reload the sweeps",
    ),
    b(
        "a",
        &[Char('a')],
        Scope::QuitDialog,
        Action::StopAfterEpoch,
        "stop after this epoch, quit",
    ),
    b(
        "n",
        &[Char('n')],
        Scope::QuitDialog,
        Action::StopNow,
        "stop now (state saved), quit",
    ),
    b(
        "Esc / c",
        &[Esc, Char('c')],
        Scope::QuitDialog,
        Action::Cancel,
        "cancel, keep training",
    ),
];

/// The action a key triggers on `tab` (with the quit dialog open or not).
pub fn action_for(key: KeyEvent, tab: Tab, dialog: bool) -> Option<Action> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let matches = |b: &&Binding| b.codes.contains(&key.code) && b.ctrl == ctrl;
    if dialog {
        return BINDINGS
            .iter()
            .filter(|b| b.scope == Scope::QuitDialog)
            .find(matches)
            .map(|b| b.action)
            .or_else(|| (ctrl && key.code == Char('c')).then_some(Action::StopNow));
    }
    // Tab-specific bindings win over global ones for the same key.
    BINDINGS
        .iter()
        .filter(|b| b.scope == Scope::Tab(tab))
        .find(matches)
        .or_else(|| {
            BINDINGS
                .iter()
                .filter(|b| b.scope == Scope::Global)
                .find(matches)
        })
        .map(|b| b.action)
}
