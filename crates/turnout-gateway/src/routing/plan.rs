//! Step 2: the plan, the ordered candidates for one request: the requested model's endpoints,
//! then each fallback model's, in order.

use crate::error::ApiError;
use crate::ingress::parse::ChatInput;
use crate::routing::catalog::{Catalog, Target};

#[derive(Debug, Clone)]
pub struct Plan {
    /// One group per model, in the order they are tried.
    pub groups: Vec<Vec<Target>>,
}

impl Plan {
    pub fn build(catalog: &Catalog, input: &ChatInput) -> Result<Plan, ApiError> {
        let mut groups = Vec::with_capacity(1 + input.models.len());
        for id in std::iter::once(&input.model).chain(&input.models) {
            let targets = catalog
                .resolve(id)
                .ok_or_else(|| ApiError::UnknownModel { model: id.clone() })?;
            if targets.is_empty() {
                return Err(ApiError::NoEndpoints {
                    model: id.clone(),
                    excluded: Vec::new(),
                });
            }
            groups.push(targets);
        }
        Ok(Plan { groups })
    }

    /// The most expensive candidate's model id, for messages about the whole plan.
    pub fn primary_model(&self) -> &str {
        self.groups
            .first()
            .and_then(|g| g.first())
            .map_or("", |t| t.model_id.as_str())
    }
}
