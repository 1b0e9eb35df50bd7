//! Adam over plain burn tensors, for estimators and trainers that keep their parameters as
//! tensors outside any burn `Module` (the variational estimator, task2vec-model2vec's expert
//! tails): torch's update rule, bias-corrected moments, ε = 1e-8.
use burn::tensor::Tensor;

/// torch's Adam over plain tensors (no weight decay).
pub struct TensorAdam {
    lr: f64,
    t: i32,
    m: Vec<Tensor<1>>,
    v: Vec<Tensor<1>>,
}

impl TensorAdam {
    /// Adam with learning rate `lr`; the moments are created at the first step.
    pub fn new(lr: f64) -> Self {
        Self {
            lr,
            t: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// Returns the updated parameters (plain tensors); `grads[i]` is the gradient of `params[i]`.
    pub fn step(&mut self, params: Vec<Tensor<1>>, grads: Vec<Tensor<1>>) -> Vec<Tensor<1>> {
        const B1: f64 = 0.9;
        const B2: f64 = 0.999;
        if self.m.is_empty() {
            self.m = params.iter().map(|p| p.zeros_like()).collect();
            self.v = params.iter().map(|p| p.zeros_like()).collect();
        }
        self.t += 1;
        let c1 = 1.0 - B1.powi(self.t);
        let c2 = 1.0 - B2.powi(self.t);
        params
            .into_iter()
            .zip(grads)
            .enumerate()
            .map(|(i, (p, g))| {
                let m = self.m[i]
                    .clone()
                    .mul_scalar(B1)
                    .add(g.clone().mul_scalar(1.0 - B1));
                let v = self.v[i]
                    .clone()
                    .mul_scalar(B2)
                    .add(g.square().mul_scalar(1.0 - B2));
                self.m[i] = m.clone();
                self.v[i] = v.clone();
                let update = m
                    .div_scalar(c1)
                    .div(v.div_scalar(c2).sqrt().add_scalar(1e-8))
                    .mul_scalar(self.lr);
                p.sub(update)
            })
            .collect()
    }
}
