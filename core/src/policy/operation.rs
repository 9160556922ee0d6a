//! The operation a request asks about.

/// Named as AdmissionReview names it (`CREATE`, …): the names parse, print and label metrics.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::Operation::{self, *};

    #[test]
    fn names_are_the_ones_admission_review_uses() {
        let ops = [Create, Update, Delete, Connect];
        let names = ops.map(Operation::as_str);
        assert_eq!(names, ["CREATE", "UPDATE", "DELETE", "CONNECT"]);
        for op in ops {
            assert_eq!(op.as_str().parse(), Ok(op));
        }
        assert!("create".parse::<Operation>().is_err(), "case matters");
    }
}
