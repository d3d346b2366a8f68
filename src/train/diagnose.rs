//! Diagnoses of a training run's predictions that deserve a warning.

/// One sentence when every prediction of a labelled set falls into one class although the
/// set holds at least two true classes: the network answers one class for everything in
/// evaluation mode. `what` names the set ("validation", "base-test"). `None` otherwise.
pub fn one_class_collapse(
    what: &str,
    truth: &[usize],
    pred: &[usize],
    classes: &[String],
) -> Option<String> {
    let first = *pred.first()?;
    if pred.iter().any(|&p| p != first) {
        return None;
    }
    let mut true_classes: Vec<usize> = truth.to_vec();
    true_classes.sort_unstable();
    true_classes.dedup();
    if true_classes.len() < 2 {
        return None;
    }
    let name = classes
        .get(first)
        .cloned()
        .unwrap_or_else(|| format!("#{first}"));
    Some(format!(
        "{what} predictions collapsed to one class: all {} {what} images were predicted `{name}` although they hold {} classes — the network answers one class in evaluation mode (try more epochs, batch-norm recalibration, a smaller --scale or --margin, or softmax)",
        pred.len(),
        true_classes.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["BAS".into(), "MON".into(), "NGS".into()]
    }

    #[test]
    fn warns_when_every_prediction_is_one_class() {
        let w = one_class_collapse("validation", &[0, 1, 2, 2], &[1, 1, 1, 1], &names())
            .expect("collapsed");
        assert!(w.starts_with(
            "validation predictions collapsed to one class: all 4 validation images were predicted `MON` although they hold 3 classes"
        ), "{w}");
    }

    #[test]
    fn silent_when_predictions_vary_or_truth_has_one_class() {
        assert_eq!(
            one_class_collapse("validation", &[0, 1], &[1, 0], &names()),
            None
        );
        assert_eq!(
            one_class_collapse("validation", &[2, 2], &[2, 2], &names()),
            None
        );
        assert_eq!(one_class_collapse("validation", &[], &[], &names()), None);
    }
}
